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
        mem_mb=lambda wildcards: mem("lyapunov"),
        runtime=30,
    params:
        args=lyapunov_args,
    shell:
        "neurodsr lyapunov {input:q} {params.args} --out {output.nc:q} "
        "--json {output.json:q} > {log:q} 2>&1"
