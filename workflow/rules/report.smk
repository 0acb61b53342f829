# One self-contained HTML report per session.


rule report:
    input:
        recording=rules.ingest.output[0],
        preprocessed=rules.preprocess.output.data,
        lyapunov=rules.lyapunov.output.nc,
        lyapunov_json=rules.lyapunov.output.json,
        fit_summary=rules.train.output.summary,
        train_log=rules.train.output.train_log,
        reconstruction=rules.evaluate.output.reconstruction,
        metrics=rules.evaluate.output.metrics,
    output:
        report(
            out("report"),
            caption="../report/session.rst",
            category="Sessions",
            subcategory="{session}",
            labels={"session": "{session}", "file": "report.html"},
        ),
    log:
        stage_log("report"),
    conda:
        "../../envs/neurodsr.yaml"
    threads: 1
    resources:
        mem_mb=mem("report"),
        runtime=runtime("report"),
    params:
        session_dir=lambda wildcards: f"{RESULTS}/{wildcards.session}",
    shell:
        "neurodsr report {params.session_dir:q} --out {output:q} > {log:q} 2>&1"
