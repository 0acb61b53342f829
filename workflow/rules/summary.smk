# The index over all sessions. When a session fails, Snakemake cannot run this rule (its input
# is missing), so the Snakefile's onerror handler runs the same command with what exists: the
# index then lists the failed sessions with their stage, error and log (see the Snakefile).


rule summary:
    input:
        expand(rules.report.output[0], session=session_names()),
    output:
        html=report(
            f"{RESULTS}/{INDEX_FILES['index']}",
            caption="../report/index.rst",
            category="Summary",
            labels={"file": "index.html"},
        ),
        csv=report(
            f"{RESULTS}/{INDEX_FILES['summary_csv']}",
            caption="../report/summary.rst",
            category="Summary",
            labels={"file": "summary.csv"},
        ),
    log:
        f"{RESULTS}/logs/summary.log",
    conda:
        "../../envs/neurodsr.yaml"
    threads: 1
    resources:
        mem_mb=mem("summary"),
        runtime=runtime("summary"),
    params:
        sessions=session_names(),
        results=lambda wildcards, output: Path(output.html).parent,
    shell:
        "neurodsr summary {params.sessions:q} --results {params.results:q} --html {output.html:q} "
        "--csv {output.csv:q} > {log:q} 2>&1"
