# Rates / filtering / dF/F, z-scoring, PCA, train/test split -> preprocessed.nc.
# preprocess.json records the options used (the session's overrides merged over the defaults).


rule preprocess:
    input:
        rules.ingest.output[0],
    output:
        data=out("preprocessed"),
        options=out("preprocess_options"),
    log:
        stage_log("preprocess"),
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
