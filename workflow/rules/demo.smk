# The bundled demo: three sessions of chaotic dynamics in real lab formats (resources/demo/).


rule demo_data:
    output:
        spikes=f"{DEMO_DIR}/spikes.nix",
        lfp=multiext(f"{DEMO_DIR}/lfp", ".vhdr", ".eeg", ".vmrk"),
        calcium=directory(f"{DEMO_DIR}/calcium/suite2p"),
    log:
        f"{DEMO_DIR}/demo.log",
    conda:
        "../../envs/neurodsr.yaml"
    threads: 1
    resources:
        mem_mb=mem("demo_data"),
        runtime=runtime("demo_data"),
    params:
        out=lambda wildcards, output: Path(output.spikes).parent,
        options=demo_options(),
    shell:
        "neurodsr demo --out {params.out:q} --options {params.options:q} > {log:q} 2>&1"
