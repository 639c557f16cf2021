"""Write the test RevMan 5 files of this folder (run from the repository root):

    Rscript tests/reference/make_revman_totals.R      # metafor's totals -> tests/reference/revman_totals.json
    python tests/data/revman/make_bcg_rm5.py          # -> bcg.rm5, fleiss1993.rm5

The files follow the RevMan 5 XML schema (COCHRANE_REVIEW > ANALYSES_AND_DATA > COMPARISON >
DICH_OUTCOME / CONT_OUTCOME / IV_OUTCOME > [*_SUBGROUP >] *_DATA, with the outcome's stored totals as
attributes), as RevMan 5 writes it (see README.md here for the schema's source). Their numbers are
not invented:

- ``bcg.rm5``: the 13 BCG trials (metadat ``dat.bcg``, Colditz 1994) and the length-of-stay trials of
  Normand 1999 (metadat ``dat.normand1999``); the stored totals are metafor's, from
  ``tests/reference/revman_totals.json``.
- ``fleiss1993.rm5``: the seven aspirin-after-myocardial-infarction trials of Fleiss (1993) with the
  totals and weights that RevMan 5.0.23 itself stored for them (Mantel-Haenszel odds ratio, fixed
  effect), as printed in the RevMan file shipped by R meta (inst/extdata/Fleiss1993.rm5).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
REF = HERE.parents[1] / "reference" / "revman_totals.json"


def _attrs(d: dict) -> str:
    return " ".join(f"{k}={quoteattr(str(v))}" for k, v in d.items())


def _fmt(x) -> str:
    return repr(float(x)) if not isinstance(x, str) else x


def _totals(t: dict, *, method: str, measure: str, random: bool, k: int, extra: dict | None = None) -> dict:
    d = {"CHI2": _fmt(t["chi2"]), "CI_END": _fmt(t["ci_end"]), "CI_START": _fmt(t["ci_start"]), "CI_STUDY": "95",
         "CI_TOTAL": "95", "DF": str(int(t["df"])), "EFFECT_MEASURE": measure, "EFFECT_SIZE": _fmt(t["effect"]),
         "ESTIMABLE": "YES", "I2": _fmt(t["i2"]), "METHOD": method, "P_CHI2": _fmt(t["p_chi2"]), "P_Z": _fmt(t["p_z"]),
         "RANDOM": "YES" if random else "NO", "STUDIES": str(k), "TAU2": _fmt(t["tau2"]), "TOTALS": "YES",
         "WEIGHT": "100.0", "Z": _fmt(t["z"])}
    d.update(extra or {})
    return d


def _labels(name, g1, g2, left, right) -> str:
    return (f"<NAME>{escape(name)}</NAME>\n<GROUP_LABEL_1>{escape(g1)}</GROUP_LABEL_1>\n<GROUP_LABEL_2>{escape(g2)}"
            f"</GROUP_LABEL_2>\n<GRAPH_LABEL_1>{escape(left)}</GRAPH_LABEL_1>\n<GRAPH_LABEL_2>{escape(right)}</GRAPH_LABEL_2>\n")


def _review(title: str, studies: list[tuple[str, str, str]], comparisons: str) -> str:
    st = "\n".join(f'<STUDY DATA_SOURCE="PUB" ID={quoteattr(i)} NAME={quoteattr(n)} YEAR={quoteattr(y)}>\n'
                   f"<REFERENCE PRIMARY=\"NO\" TYPE=\"JOURNAL_ARTICLE\">\n<IDENTIFIERS/>\n</REFERENCE>\n<IDENTIFIERS/>\n</STUDY>"
                   for i, n, y in studies)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<COCHRANE_REVIEW DESCRIPTION="" REVMAN_SUB_VERSION="5.0.23" REVMAN_VERSION="5" STAGE="R" STATUS="A" '
            'TYPE="INTERVENTION" VERSION_NO="0.0">\n'
            f"<COVER_SHEET>\n<TITLE>{escape(title)}</TITLE>\n</COVER_SHEET>\n"
            f"<STUDIES_AND_REFERENCES>\n<STUDIES>\n<INCLUDED_STUDIES>\n{st}\n</INCLUDED_STUDIES>\n</STUDIES>\n"
            "</STUDIES_AND_REFERENCES>\n"
            f'<ANALYSES_AND_DATA CALCULATED_DATA="YES">\n{comparisons}</ANALYSES_AND_DATA>\n</COCHRANE_REVIEW>\n')


def bcg() -> str:
    ref = json.loads(REF.read_text(encoding="utf-8"))
    b, o, nm = ref["bcg"], ref["outcomes"], ref["normand"]
    ids = [f"STD-BCG-{t}" for t in b["trial"]]
    studies = [(i, a, str(y)) for i, a, y in zip(ids, b["author"], b["year"])]
    nids = [f"STD-Normand-{s.replace(' ', '_')}" for s in nm["source"]]
    studies += [(i, s, "1999") for i, s in zip(nids, nm["source"])]
    k = len(ids)

    def dich(idx):
        return "".join(f'<DICH_DATA {_attrs({"ESTIMABLE": "YES", "EVENTS_1": b["tpos"][i], "EVENTS_2": b["cpos"][i], "ORDER": i + 1, "STUDY_ID": ids[i], "TOTAL_1": b["n1"][i], "TOTAL_2": b["n2"][i]})}/>\n'
                       for i in idx)

    labels = _labels("Tuberculosis", "BCG vaccine", "No vaccine", "Favours BCG", "Favours no vaccine")
    parts = []
    for no, (key, method, measure, random) in enumerate((("mh_rr_fixed", "MH", "RR", False),
                                                         ("mh_rr_random", "MH", "RR", True),
                                                         ("mh_or_fixed", "MH", "OR", False),
                                                         ("mh_rd_random", "MH", "RD", True),
                                                         ("iv_or_random", "IV", "OR", True),
                                                         ("peto_or", "PETO", "PETO_OR", False)), start=1):
        a = _totals(o[key], method=method, measure=measure, random=random, k=k,
                    extra={"ID": f"CMP-001.{no:02d}", "NO": str(no), "SUBGROUPS": "NO", "EVENTS_1": sum(b["tpos"]),
                           "EVENTS_2": sum(b["cpos"]), "TOTAL_1": sum(b["n1"]), "TOTAL_2": sum(b["n2"])})
        parts.append(f"<DICH_OUTCOME {_attrs(a)}>\n{labels}{dich(range(k))}</DICH_OUTCOME>\n")
    # subgroups by allocation, inverse variance RR, DerSimonian-Laird
    t = o["iv_rr_random_subgroups"]
    a = _totals(t, method="IV", measure="RR", random=True, k=k,
                extra={"ID": "CMP-001.07", "NO": "7", "SUBGROUPS": "YES", "SUBGROUP_TEST": "YES", "Q": _fmt(t["q_between"]),
                       "P_Q": _fmt(t["p_between"]), "I2_Q": _fmt(t["i2_between"])})
    sub = ""
    for g_no, g in enumerate(("random", "alternate", "systematic"), start=1):
        idx = [i for i in range(k) if b["alloc"][i] == g]
        sa = _totals(t["subgroups"][g], method="IV", measure="RR", random=True, k=len(idx), extra={"NO": str(g_no)})
        sub += f"<DICH_SUBGROUP {_attrs(sa)}>\n<NAME>Allocation: {g}</NAME>\n{dich(idx)}</DICH_SUBGROUP>\n"
    parts.append(f"<DICH_OUTCOME {_attrs(a)}>\n{labels}{sub}</DICH_OUTCOME>\n")
    # generic inverse variance: the risk ratios with the SE of their logs and their 95% CIs (natural scale)
    a = _totals(o["generic_rr_fixed"], method="IV", measure="", random=False, k=k,
                extra={"ID": "CMP-001.08", "NO": "8", "SUBGROUPS": "NO", "LOG_DATA": "YES"})
    a.pop("EFFECT_MEASURE")
    z = 1.959963984540054
    iv = "".join(f'<IV_DATA {_attrs({"CI_END": _fmt(math.exp(y + z * v ** 0.5)), "CI_START": _fmt(math.exp(y - z * v ** 0.5)), "EFFECT_SIZE": _fmt(math.exp(y)), "ESTIMABLE": "YES", "ORDER": i + 1, "SE": _fmt(v ** 0.5), "STUDY_ID": ids[i], "TOTAL_1": b["n1"][i], "TOTAL_2": b["n2"][i]})}/>\n'
                 for i, (y, v) in enumerate(zip(ref["study"]["rr_yi"], ref["study"]["rr_vi"])))
    parts.append(f"<IV_OUTCOME {_attrs(a)}>\n{labels}<EFFECT_MEASURE>Risk Ratio</EFFECT_MEASURE>\n{iv}</IV_OUTCOME>\n")
    comp1 = f'<COMPARISON ID="CMP-001" NO="1">\n<NAME>BCG vaccine versus no vaccine</NAME>\n{"".join(parts)}</COMPARISON>\n'
    # continuous: mean difference of length of stay (days), DerSimonian-Laird
    a = _totals(o["md_random"], method="IV", measure="MD", random=True, k=len(nids),
                extra={"ID": "CMP-002.01", "NO": "1", "SUBGROUPS": "NO", "UNITS": "days"})
    cont = "".join(f'<CONT_DATA {_attrs({"ESTIMABLE": "YES", "MEAN_1": nm["m1i"][i], "MEAN_2": nm["m2i"][i], "ORDER": i + 1, "SD_1": nm["sd1i"][i], "SD_2": nm["sd2i"][i], "STUDY_ID": nids[i], "TOTAL_1": nm["n1i"][i], "TOTAL_2": nm["n2i"][i]})}/>\n'
                   for i in range(len(nids)))
    comp2 = (f'<COMPARISON ID="CMP-002" NO="2">\n<NAME>Specialist stroke care versus conventional care</NAME>\n'
             f"<CONT_OUTCOME {_attrs(a)}>\n{_labels('Length of hospital stay (days)', 'Specialist care', 'Conventional care', 'Favours specialist', 'Favours conventional')}"
             f"{cont}</CONT_OUTCOME>\n</COMPARISON>\n")
    return _review("BCG vaccine trials (Colditz 1994) and stroke care trials (Normand 1999): test file", studies,
                   comp1 + comp2)


#: Fleiss (1993), aspirin after myocardial infarction: counts, and the per-study weights and totals that
#: RevMan 5.0.23 stored (R meta, inst/extdata/Fleiss1993.rm5: DICH_OUTCOME CMP-001.01 and its DICH_DATA).
FLEISS = [  # id, name, year, events1, total1, events2, total2, RevMan's WEIGHT
    ("STD-MRC-1", "MRC-1", "1974", 49, 615, 67, 624, "3.176490004091248"),
    ("STD-CDP", "CDP", "1976", 44, 758, 64, 771, "3.1016891143394365"),
    ("STD-MRC-2", "MRC-2", "1979", 102, 832, 126, 850, "5.675380442715663"),
    ("STD-GASP", "GASP", "1979", 32, 317, 38, 309, "1.795484618258711"),
    ("STD-PARIS", "PARIS", "1980", 85, 810, 52, 406, "3.2176243566716805"),
    ("STD-AMIS", "AMIS", "1980", 246, 2267, 219, 2257, "10.153491219997628"),
    ("STD-ISIS-2", "ISIS-2", "1988", 1570, 8587, 1720, 8600, "72.87984024392564"),
]
FLEISS_TOTALS = {"CHI2": "9.946055983220074", "CI_END": "0.9569947088336491", "CI_START": "0.8405144008917793",
                 "CI_STUDY": "95", "CI_TOTAL": "95", "DF": "6", "EFFECT_MEASURE": "OR",
                 "EFFECT_SIZE": "0.8968655609130709", "ESTIMABLE": "YES", "EVENTS_1": "2128", "EVENTS_2": "2286",
                 "I2": "39.67458045558399", "ID": "CMP-001.01", "METHOD": "MH", "NO": "1", "P_CHI2": "0.1269422521561745",
                 "P_Z": "0.0010103343130005407", "RANDOM": "NO", "STUDIES": "7", "SUBGROUPS": "NO", "TAU2": "0.0",
                 "TOTALS": "YES", "TOTAL_1": "14186", "TOTAL_2": "13817", "WEIGHT": "100.00000000000001",
                 "Z": "3.287633061337987"}


def fleiss() -> str:
    data = "".join(f'<DICH_DATA {_attrs({"ESTIMABLE": "YES", "EVENTS_1": e1, "EVENTS_2": e2, "ORDER": i + 1, "STUDY_ID": sid, "TOTAL_1": n1, "TOTAL_2": n2, "WEIGHT": w})}/>\n'
                   for i, (sid, _, _, e1, n1, e2, n2, w) in enumerate(FLEISS))
    out = (f"<DICH_OUTCOME {_attrs(FLEISS_TOTALS)}>\n"
           + _labels("Aspirin for Preventing Death after Myocardial Infarction", "Aspirin", "Control",
                     "Favours experimental", "Favours control") + data + "</DICH_OUTCOME>\n")
    comp = f'<COMPARISON ID="CMP-001" NO="1">\n<NAME>Examples from Fleiss (1993)</NAME>\n{out}</COMPARISON>\n'
    return _review("Examples from Fleiss 1993", [(s, n, y) for s, n, y, *_ in FLEISS], comp)


if __name__ == "__main__":
    (HERE / "bcg.rm5").write_text(bcg(), encoding="utf-8")
    (HERE / "fleiss1993.rm5").write_text(fleiss(), encoding="utf-8")
