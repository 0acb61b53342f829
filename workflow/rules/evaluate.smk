# Data against the fitted model: free runs, n-step predictions, the model's Lyapunov spectrum,
# the metrics (best seed by validation; median and IQR over seeds).


rule evaluate:
    input:
        data="results/{session}/preprocessed.nc",
        lyapunov="results/{session}/lyapunov.json",
        fit="results/{session}/models/fit.nc",
        weights="results/{session}/models/fit.pt",
    output:
        reconstruction="results/{session}/reconstruction.nc",
        metrics=report(
            "results/{session}/metrics.json",
            caption="../report/metrics.rst",
            category="Metrics",
            subcategory="{session}",
            labels={"session": "{session}", "file": "metrics.json"},
        ),
        train_log="results/{session}/models/log.json",
        config="results/{session}/models/config.json",
    log:
        "results/{session}/logs/evaluate.log",
    conda:
        "../../envs/neurodsr.yaml"
    threads: threads("evaluate")
    resources:
        mem_mb=mem("evaluate"),
        runtime=runtime("evaluate"),
    params:
        args=evaluate_args,
    shell:
        "neurodsr evaluate results/{wildcards.session:q} {params.args} > {log:q} 2>&1"
