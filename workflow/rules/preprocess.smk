# Rates / filtering / dF/F, z-scoring, PCA, train/test split -> preprocessed.nc.
# preprocess.json records the options used (the session's overrides merged over the defaults).


rule preprocess:
    input:
        "results/{session}/recording.nc",
    output:
        data="results/{session}/preprocessed.nc",
        options="results/{session}/preprocess.json",
    params:
        options=preprocess_json,
    log:
        "results/{session}/logs/preprocess.log",
    threads: 1
    resources:
        mem_mb=lambda wildcards: mem("preprocess"),
        runtime=30,
    conda:
        "../../envs/neurodsr.yaml"
    shell:
        "printf '%s\\n' {params.options:q} > {output.options:q} && "
        "neurodsr preprocess {input:q} --config {output.options:q} --out {output.data:q} "
        "> {log:q} 2>&1"
