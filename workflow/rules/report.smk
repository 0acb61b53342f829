# One self-contained HTML report per session.


rule report:
    input:
        recording="results/{session}/recording.nc",
        preprocessed="results/{session}/preprocessed.nc",
        lyapunov="results/{session}/lyapunov.nc",
        lyapunov_json="results/{session}/lyapunov.json",
        reconstruction="results/{session}/reconstruction.nc",
        metrics="results/{session}/metrics.json",
        train_log="results/{session}/models/log.json",
    output:
        report(
            "results/{session}/report.html",
            caption="../report/session.rst",
            category="Sessions",
            subcategory="{session}",
            labels={"session": "{session}", "file": "report.html"},
        ),
    log:
        "results/{session}/logs/report.log",
    conda:
        "../../envs/neurodsr.yaml"
    threads: 1
    resources:
        mem_mb=mem("report"),
        runtime=runtime("report"),
    shell:
        "neurodsr report results/{wildcards.session:q} --out {output:q} > {log:q} 2>&1"
