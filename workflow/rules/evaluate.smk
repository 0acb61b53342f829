# Data against the fitted model: free runs, scores, n-step predictions, the model's Lyapunov
# spectrum (best seed by validation; median and IQR over seeds). The only stage that scores.


rule evaluate:
    input:
        data=rules.preprocess.output.data,
        lyapunov=rules.lyapunov.output.json,
        weights=rules.train.output.weights,
        summary=rules.train.output.summary,
    output:
        reconstruction=out("reconstruction"),
        metrics=report(
            out("metrics"),
            caption="../report/metrics.rst",
            category="Metrics",
            subcategory="{session}",
            labels={"session": "{session}", "file": "metrics.json"},
        ),
    log:
        stage_log("evaluate"),
    conda:
        "../../envs/neurodsr.yaml"
    threads: threads("evaluate")
    resources:
        mem_mb=mem("evaluate"),
        runtime=runtime("evaluate"),
    params:
        args=evaluate_args,
        session_dir=lambda wildcards: f"{RESULTS}/{wildcards.session}",
    shell:
        "neurodsr evaluate {params.session_dir:q} {params.args} > {log:q} 2>&1"
