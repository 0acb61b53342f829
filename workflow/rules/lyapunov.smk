# lambda_max of the data and the forcing interval tau = ln 2 / lambda_max.


rule lyapunov:
    input:
        "results/{session}/preprocessed.nc",
    output:
        nc="results/{session}/lyapunov.nc",
        json="results/{session}/lyapunov.json",
    log:
        "results/{session}/logs/lyapunov.log",
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
        "> {output.json:q}.tmp 2> {log:q} && mv {output.json:q}.tmp {output.json:q}"
