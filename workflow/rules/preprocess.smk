# Rates / filtering / dF/F, z-scoring, PCA, train/test split -> preprocessed.nc.
# preprocess.json records the options used (the session's overrides merged over the defaults).


rule preprocess:
    input:
        "results/{session}/recording.nc",
    output:
        data="results/{session}/preprocessed.nc",
        options="results/{session}/preprocess.json",
    log:
        "results/{session}/logs/preprocess.log",
    conda:
        "../../envs/neurodsr.yaml"
    threads: 1
    resources:
        mem_mb=mem("preprocess"),
        runtime=runtime("preprocess"),
    params:
        options=preprocess_json,
    shell:
        "printf '%s\\n' {params.options:q} > {output.options:q} && "
        "neurodsr preprocess {input:q} --config {output.options:q} --out {output.data:q} "
        "> {log:q} 2>&1"
