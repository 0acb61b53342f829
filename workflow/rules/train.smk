# Train forced RNNs on a session, all seeds together as one batched ensemble (one job).
#
# Checkpoints go to models/checkpoints/ (not a declared output, so Snakemake keeps it when a job
# is interrupted): a rerun resumes from it. inputs.txt there fingerprints the data and the
# settings; a checkpoint from other data or settings is discarded instead of resumed.


rule train:
    input:
        data="results/{session}/preprocessed.nc",
        lyapunov="results/{session}/lyapunov.json",
    output:
        fit="results/{session}/models/fit.nc",
        weights="results/{session}/models/fit.pt",
        metrics="results/{session}/models/fit.json",
    log:
        "results/{session}/logs/train.log",
    conda:
        "../../envs/neurodsr.yaml"
    threads: threads("train")
    resources:
        mem_mb=lambda wildcards: mem("train"),
        runtime=train_runtime,
        gpu=config["resources"]["gpus"],
    params:
        tau=tau_arg,
        args=train_args,
        fingerprint=train_fingerprint,
        checkpoints=lambda wildcards: f"results/{wildcards.session}/models/checkpoints",
    shell:
        """
        ckpt={params.checkpoints:q}
        stamp="$(cksum < {input.data:q}) {params.fingerprint}"
        echo "train {wildcards.session}: tau {params.tau}, checkpoints in $ckpt" > {log:q}
        if [ -f "$ckpt/inputs.txt" ] && [ "$(cat "$ckpt/inputs.txt")" != "$stamp" ]; then
            echo "the checkpoint is from other data or settings: starting afresh" >> {log:q}
            rm -rf "$ckpt"
        fi
        mkdir -p "$ckpt"
        echo "$stamp" > "$ckpt/inputs.txt"
        neurodsr fit {input.data:q} --tau {params.tau} {params.args} --threads {threads} \
            --checkpoint-dir "$ckpt" --no-progress --out {output.fit:q} --weights {output.weights:q} \
            --json {output.metrics:q} >> {log:q} 2>&1
        """
