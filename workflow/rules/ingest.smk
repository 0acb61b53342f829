# Read each session's recording (neo / MNE / calcium formats / arrays) into recording.nc.


rule ingest:
    input:
        session_path,
    output:
        out("recording"),
    log:
        stage_log("ingest"),
    conda:
        "../../envs/neurodsr.yaml"
    threads: 1
    resources:
        mem_mb=mem("ingest"),
        runtime=runtime("ingest"),
    params:
        args=ingest_args,
    shell:
        "neurodsr ingest {input:q} {params.args} --out {output:q} > {log:q} 2>&1"
