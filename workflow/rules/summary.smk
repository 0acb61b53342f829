# The index over all sessions. When a session fails, Snakemake cannot run this rule (its input
# is missing), so the Snakefile's onerror handler runs the same command with what exists: the
# index then lists the failed sessions with their stage, error and log (see the Snakefile).


rule summary:
    input:
        expand("results/{session}/report.html", session=session_names()),
    output:
        html=report(
            "results/index.html",
            caption="../report/index.rst",
            category="Summary",
            labels={"file": "index.html"},
        ),
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
            labels={"file": "summary.csv"},
        ),
    log:
        "results/logs/summary.log",
    conda:
        "../../envs/neurodsr.yaml"
    threads: 1
    resources:
        mem_mb=mem("summary"),
        runtime=runtime("summary"),
    params:
        sessions=session_names(),
    shell:
        "neurodsr summary {params.sessions:q} --results results --html {output.html:q} "
        "--csv {output.csv:q} > {log:q} 2>&1"
