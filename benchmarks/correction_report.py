"""The markdown report of benchmarks/correction.py (docs/CORRECTION.md): measured numbers only."""

from __future__ import annotations


def pct(a: float, b: float) -> str:
    return f"{100 * (a - b) / abs(b):+.2f} %"


def seed_rows(seeds: dict) -> list[str]:
    """Acceptance numbers of the synthetic case for other rupture/artefact seeds."""
    lines = ["Other seeds (same settings):", "",
             "| seed | excluded: above clean [px] | offset vs clean | automatic: above clean [px] | offset vs clean |",
             "|---|---|---|---|---|"]
    for seed, r in seeds.items():
        p0, c0 = r["clean"]["offsets"][0][0], r["clean"]["stable_rms_px"]
        lines.append(f"| {seed} | {r['exclude']['stable_rms_px'] - c0:+.4f} | {pct(r['exclude']['offsets'][0][0], p0)} | "
                     f"{r['automatic']['stable_rms_px'] - c0:+.4f} | {pct(r['automatic']['offsets'][0][0], p0)} |")
    return lines + [""]


def report(syn: dict, null: dict | None, kb: dict | None, command: str, seeds: dict | None = None) -> str:
    clean = syn["clean"]
    lines = ["# Stable-ground correction (issue 25): measured", "",
             f"Command: `{command}` (benchmarks/correction.py; numbers below are what it printed on this machine).", "",
             "## Synthetic rupture with artefacts", "",
             f"Rupture: {syn['rupture']}; artefacts: {syn['artefacts']}. Stable ground: farther than "
             f"{syn['buffer_px']:g} px from the trace ({100 * syn['stable_share_true']:.1f} % of the image). Error = RMS "
             "of |d - d_true| over stable ground (the clean field's is its estimation noise). Offsets: `microflow "
             "profile` (profile_product, width 31 px, gap 3 px) along the trace, fault-parallel component.", "",
             "| field | stable-ground error [px] | above clean [px] | RMS vs clean field [px] | fault-parallel offset [px] "
             "| vs clean | stable share | track azimuth | boundaries found |",
             "|---|---|---|---|---|---|---|---|---|"]
    p0 = clean["offsets"][0][0]
    lines.append(f"| clean (no artefacts) | {clean['stable_rms_px']:.4f} | - | - | {p0:.4f} | - | - | - | - |")
    art = syn["with_artefacts"]
    lines.append(f"| with artefacts | {art['stable_rms_px']:.4f} | {art['stable_rms_px'] - clean['stable_rms_px']:+.4f} "
                 f"| - | {art['offsets'][0][0]:.4f} | {pct(art['offsets'][0][0], p0)} | - | - | - |")
    for name, label in (("exclude", "corrected, --exclude trace --buffer, azimuth given"),
                        ("automatic", "corrected, automatic mask, azimuth given"),
                        ("automatic_estimated_track", "corrected, automatic mask, azimuth estimated")):
        r = syn[name]
        lines.append(f"| {label} | {r['stable_rms_px']:.4f} | {r['stable_rms_px'] - clean['stable_rms_px']:+.4f} | "
                     f"{r['rms_vs_clean_px']:.4f} | {r['offsets'][0][0]:.4f} | {pct(r['offsets'][0][0], p0)} | "
                     f"{100 * r['stable_share']:.1f} % | {r['track_azimuth_deg']} | {r['boundaries_found']} |")
    lines += ["", "Acceptance: with the rupture excluded, error above clean "
              f"{syn['exclude']['stable_rms_px'] - clean['stable_rms_px']:+.4f} px (target <= 0.01) and offset "
              f"{pct(syn['exclude']['offsets'][0][0], p0)} (target within 2 %); automatic mask "
              f"{syn['automatic']['stable_rms_px'] - clean['stable_rms_px']:+.4f} px (target <= 0.02) and offset "
              f"{pct(syn['automatic']['offsets'][0][0], p0)} (target within 5 %).", "",
              "![before/after](figures/correction.png)", ""]
    if seeds:
        lines += seed_rows(seeds)
    if null:
        lines += ["## Real near-null pair: Landsat-8 rows 077/078, 2020-05-18, overlap", "",
                  f"B3 of both scenes, 1024² window of the overlap ({null['before']['valid_px']} valid px), default "
                  "method, then `microflow correct --model plane` (automatic mask).", "",
                  "| field | EW median [px] | EW spread (1.4826 MAD) | NS median [px] | NS spread |", "|---|---|---|---|---|"]
        for name in ("before", "after"):
            r = null[name]
            lines.append(f"| {name} | {r['EW'][0]:+.5f} | {r['EW'][1]:.5f} | {r['NS'][0]:+.5f} | {r['NS'][1]:.5f} |")
        lines += ["", f"`correct` printed: {null['printed'].splitlines()[0]}", ""]
    if kb:
        lines += ["## Real vector mask: Kaiserberg rock glacier 2003 -> 2023", "",
                  "Default method, then `microflow correct --model plane --stable Area_outside_rock_glacier_adjusted.shp`"
                  f" ({kb['stable_px']} stable px on the product; {kb['inside_px']} px inside "
                  "Area_inside_rock_glacier.shp). Median (1.4826 MAD) in px.", "",
                  "| field | stable EW | stable NS | inside EW | inside NS |", "|---|---|---|---|---|"]
        for name, label in (("before", "before"), ("after", "after (plane)"), ("constant", "after (constant)")):
            r = kb[name]
            lines.append(f"| {label} | " + " | ".join(f"{r[k][0]:+.4f} ({r[k][1]:.4f})" for k in
                                                     ("stable_EW", "stable_NS", "inside_EW", "inside_NS")) + " |")
        lines += ["", f"Inside the rock glacier, before - after - (the saved correction) is at most "
                  f"{kb['inside_change_minus_model_max_px']:.2g} px: the motion changes by the fitted plane only "
                  f"(its median there: EW {kb['inside_model_median_px'][0]:+.4f}, NS {kb['inside_model_median_px'][1]:+.4f} px). "
                  "The stable polygon lies along the east side of the scene, so the plane is extrapolated over the "
                  "glacier: the 68 % radius of the correction (band 4 of --save-correction) has the median "
                  f"{kb['correction_sigma_median_px']['stable']:.4f} px on the stable area and "
                  f"{kb['correction_sigma_median_px']['inside']:.4f} px inside, and it is added to the product's sigma.",
                  "", f"Plane and constant differ inside by {kb['after']['inside_EW'][0] - kb['constant']['inside_EW'][0]:+.4f} px "
                  f"(EW) and {kb['after']['inside_NS'][0] - kb['constant']['inside_NS'][0]:+.4f} px (NS) in median, more "
                  "than the correction's sigma there: sigma carries the parameters' uncertainty within the chosen model, "
                  "not the choice of model.",
                  "", f"`correct` printed: {kb['printed'].splitlines()[0]}", ""]
    return "\n".join(lines)
