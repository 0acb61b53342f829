# Train forced RNNs on a session, all seeds together as one batched ensemble (one job).
#
# fit reads tau from lyapunov.json (with lyapunov.tau: auto) and writes the weights, the fit
# summary (how it was trained, where tau came from) and the training log. Checkpoints go to
# models/checkpoints/ (not a declared output, so Snakemake keeps it when a job is interrupted):
# a rerun resumes from it when the model, the settings and the data are the same (the trainer
# checks; anything else starts afresh).


rule train:
    input:
        data=rules.preprocess.output.data,
        lyapunov=rules.lyapunov.output.json,
    output:
        weights=out("weights"),
        summary=out("fit_summary"),
        train_log=out("train_log"),
    log:
        stage_log("train"),
    conda:
        "../../envs/neurodsr.yaml"
    threads: threads("train")
    resources:
        mem_mb=mem("train"),
        runtime=runtime("train"),
        gpu=config["resources"]["gpus"],
    params:
        args=train_args,
        checkpoints=lambda wildcards: out("checkpoints").format(session=wildcards.session),
    shell:
        "neurodsr fit {input.data:q} --lyapunov {input.lyapunov:q} {params.args} "
        "--threads {threads} --checkpoint-dir {params.checkpoints:q} --no-progress "
        "--weights {output.weights:q} > {log:q} 2>&1"
