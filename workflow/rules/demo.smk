# The bundled demo: three sessions of chaotic dynamics in real lab formats (resources/demo/).


rule demo_data:
    output:
        spikes=f"{DEMO_DIR}/spikes.nix",
        lfp=multiext(f"{DEMO_DIR}/lfp", ".vhdr", ".eeg", ".vmrk"),
        calcium=directory(f"{DEMO_DIR}/calcium/suite2p"),
    params:
        out=lambda wildcards, output: Path(output.spikes).parent,
        options=demo_options(),
    log:
        f"{DEMO_DIR}/demo.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/neurodsr.yaml"
    shell:
        "neurodsr demo --out {params.out:q} --options {params.options:q} > {log:q} 2>&1"
