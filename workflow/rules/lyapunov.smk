# lambda_max of the data and the forcing interval tau = ln 2 / lambda_max.


rule lyapunov:
    input:
        rules.preprocess.output.data,
    output:
        nc=out("lyapunov"),
        json=out("lyapunov_json"),
    log:
        stage_log("lyapunov"),
    conda:
        "../../envs/neurodsr.yaml"
    threads: threads("lyapunov")
    resources:
        mem_mb=mem("lyapunov"),
        runtime=runtime("lyapunov"),
    params:
        args=lyapunov_args,
    shell:
        "neurodsr lyapunov {input:q} {params.args} --out {output.nc:q} "
        "--json {output.json:q} > {log:q} 2>&1"
