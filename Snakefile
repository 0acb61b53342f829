# neurodsr workflow: dynamical-systems reconstruction of every session listed in config.yaml.
#
#   snakemake --cores 8                      # the bundled demo (config.yaml) or your sessions
#   snakemake --cores 8 --keep-going         # one broken session does not stop the others
#   snakemake --profile workflow/profiles/slurm   # on a SLURM cluster, training on GPUs
#   snakemake --report report.html           # Snakemake's own report of a finished run
#
# Per session: ingest -> preprocess -> lyapunov -> train -> evaluate -> report, then the index.
# The rules call the `neurodsr` command line; see README.md ("The pipeline").

from snakemake.utils import min_version

min_version("8.20")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/lyapunov.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/summary.smk"


wildcard_constraints:
    session=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


localrules:
    all,
    summary,


rule all:
    default_target: True
    input:
        all_targets(),


onerror:
    write_index_after_failure()
