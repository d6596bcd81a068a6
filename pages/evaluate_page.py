"""Evaluate: precision@k / recall@k (both definitions, both directions) and RMSE vs baselines."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from mfcore.report import metric_vs_k, per_subject_hist, rmse_bars
from mfcore.values import fmt
from ui.session import Bundle
from ui.text import error_text
from ui.widgets import persisted

ss = st.session_state
DEFINITIONS = {"heldout": "Held-out (standard)", "favourites": "Favourites (MSD notebook)"}
DIRECTIONS = {"users": "Users → songs (each user's top songs)",
              "items": "Songs → users (each song's top fans)"}
SCOPES = {"sample": "A random sample", "all": "All", "chosen": "Chosen ones"}
CURVE_KS = (1, 2, 3, 5, 10, 15, 20, 30, 40, 50)


def definition_text(definition: str, direction: str, threshold: float | None) -> str:
    cands = "songs" if direction == "users" else "users"
    subj = "user" if direction == "users" else "song"
    if definition == "heldout":
        thr = f" with a held-out value ≥ {threshold:g}" if threshold is not None else ""
        return (f"**Held-out.** For each {subj}: relevant R = its held-out {cands}{thr}; "
                f"candidates = all {cands} except its training {cands}; T = the top-k "
                f"candidates. precision@k = |R ∩ T| / k, recall@k = |R ∩ T| / |R|. "
                f"{subj.capitalize()}s with R empty are skipped and counted.")
    return (f"**Favourites** (the MSD notebook's). For each {subj}: relevant R = its k most-played "
            f"{cands} in the whole data; candidates = all {cands}, nothing excluded; T = top-k. "
            "precision@k = |R ∩ T| / k, recall@k = |R ∩ T| / |R|. It measures how well the model "
            "reproduces what it was fitted on, not how well it generalises.")


def settings(b: Bundle) -> dict:
    data = b.prepared.display
    has_val = b.prepared.val is not None and len(b.prepared.val) > 0
    with st.container(border=True):
        c1, c2, c3 = st.columns(3)
        definition = c1.radio("Definition", list(DEFINITIONS), format_func=DEFINITIONS.get,
                              **persisted("ev", "definition", "heldout" if has_val
                                          else "favourites", list(DEFINITIONS)))
        direction = c2.radio("Direction", list(DIRECTIONS), format_func=DIRECTIONS.get,
                             **persisted("ev", "direction", "users", list(DIRECTIONS)))
        scope = c3.radio("Subjects", list(SCOPES), format_func=SCOPES.get,
                         **persisted("ev", "scope", "sample", list(SCOPES)))
        c1, c2, c3 = st.columns(3)
        k = c1.slider("k", 1, 50, help="Length of each top-k list.", **persisted("ev", "k", 10))
        n_subj = data.n_users if direction == "users" else data.n_items
        sample = None
        chosen = None
        if scope == "sample":
            if ss.get("w_ev_sample", 0) > max(10, n_subj):  # e.g. users -> songs: fewer subjects
                ss.w_ev_sample = ss.ev["sample"] = max(10, n_subj)  # clamp, not reset to 10
            sample = c2.number_input("Sample size", 10, max(10, n_subj), step=100,
                                     help="A seeded random sample of eligible subjects; the "
                                          "means get 95% confidence intervals.",
                                     **persisted("ev", "sample", max(10, min(1000, n_subj))))
        elif scope == "chosen":
            p = b.prepared
            counts, order = ((p.user_counts, p.users_by_activity) if direction == "users"
                             else (p.item_counts, p.items_by_popularity))
            order = order[:20_000]
            if direction == "users":
                names = {int(u): f"{data.user_ids[u]} · {counts[u]:,} songs" for u in order}
            else:
                labels = b.prepared.item_names
                names = {int(i): f"{labels[i]} · {counts[i]:,} listeners" for i in order}
            chosen = c2.multiselect("Users" if direction == "users" else "Songs",
                                    order.tolist(), format_func=names.get, key="ev_chosen",
                                    placeholder="Type to search…")
        threshold = None
        if definition == "heldout":
            use_thr = c3.toggle("Only held-out values ≥ a threshold count as relevant",
                                key="ev_use_thr")
            if use_thr:
                threshold = c3.number_input("Threshold (on the training scale)", value=1.0,
                                            step=0.5, key="ev_thr")
    return dict(definition=definition, direction=direction, k=int(k), sample=sample,
                subjects=tuple(chosen) if chosen else None, scope=scope, threshold=threshold)


def run_evaluation(b: Bundle, opts: dict) -> dict:
    """The model at every k of the curve (one pass) under "model", and the popularity reference
    at the chosen k under "popularity", with one progress bar across both."""
    from mfcore.evaluate.ranking import evaluate_ranking, popularity_model
    ks = sorted({x for x in CURVE_KS if x <= max(opts["k"], 20)} | {opts["k"]})
    runs = {"model": (b.model, ks), "popularity": (popularity_model(b.prepared.train), opts["k"])}
    bar = st.progress(0.0, text="Evaluating…")
    results = {}
    for n, (name, (model, k)) in enumerate(runs.items()):
        def progress(fraction: float, message: str = "", n=n, name=name) -> None:
            done = (n + min(max(fraction, 0.0), 1.0)) / len(runs)
            bar.progress(done, text=f"Evaluating the {name} ({n + 1} of {len(runs)})…")
        results[name] = evaluate_ranking(
            model, b.prepared.train, b.prepared.val, k=k, definition=opts["definition"],
            direction=opts["direction"], subjects=opts["subjects"], sample=opts["sample"],
            seed=0, threshold=opts["threshold"], full_data=b.prepared.split.train
            if b.prepared.val is None else None, progress=progress)
    bar.empty()
    return results


def ranking_section(b: Bundle) -> None:
    st.subheader("precision@k and recall@k")
    opts = settings(b)
    has_val = b.prepared.val is not None and len(b.prepared.val) > 0
    st.markdown(definition_text(opts["definition"], opts["direction"], opts["threshold"]))
    if opts["definition"] == "heldout" and not has_val:
        st.warning("The held-out definition needs a validation split: choose one on the Data "
                   "page and retrain, or use the favourites definition.", icon=":material/info:")
        return
    if opts["scope"] == "chosen" and not opts["subjects"]:
        st.caption("Choose at least one subject above.")
        return
    key = (b.job_id, tuple(sorted((k, str(v)) for k, v in opts.items())))
    store = ss.setdefault("eval_results", {})
    st.button("Run evaluation", type="primary", icon=":material/play_arrow:", key="btn_eval",
              on_click=lambda: ss.update(eval_request=key))
    if ss.get("eval_request") == key and key not in store:
        # The request is cleared only once answered: a run interrupted by a rerun (a click, a
        # page switch) starts the evaluation again instead of dropping it silently.
        try:
            store[key] = run_evaluation(b, opts)
        except Exception as exc:  # noqa: BLE001
            ss.eval_request = None
            st.error(f"Evaluation failed: {error_text(exc)}", icon=":material/error:")
            return
        ss.eval_request = None
    results = store.get(key)
    if results is None:
        st.caption("Press **Run evaluation** (a sample of 1,000 users takes about a second).")
        return
    show_results(results, opts)


def show_results(results: dict, opts: dict) -> None:
    r = results["model"].at(opts["k"])
    pop = results.get("popularity")
    what = "users" if opts["direction"] == "users" else "songs"
    c = st.columns(5)
    p_ci = f"{r.precision_ci95[0]:.4f} – {r.precision_ci95[1]:.4f}" if r.precision_ci95 else None
    r_ci = f"{r.recall_ci95[0]:.4f} – {r.recall_ci95[1]:.4f}" if r.recall_ci95 else None

    def vs_pop(name: str):
        return None if pop is None else f"{getattr(r, name) - getattr(pop, name):+.4f} vs popularity"

    c[0].metric(f"precision@{r.k}", fmt(r.precision), vs_pop("precision"),
                help=p_ci and f"95% CI {p_ci}")
    c[1].metric(f"recall@{r.k}", fmt(r.recall), vs_pop("recall"), help=r_ci and f"95% CI {r_ci}")
    c[2].metric(f"NDCG@{r.k}", fmt(r.ndcg), vs_pop("ndcg"),
                help="Σ rel_j / log₂(j + 1) over the top-k in rank "
                "order, divided by the same sum for the ideal order (binary relevance).")
    c[3].metric(f"{what.capitalize()} evaluated", f"{r.n_evaluated:,}",
                help=f"{r.n_skipped:,} skipped: no relevant items.")
    c[4].metric("Coverage", f"{r.coverage:.1%}", help="Share of all candidates that appear in "
                "at least one evaluated top-k list.")
    extra = f"; 95% intervals: precision {p_ci}, recall {r_ci}" if p_ci and r_ci else ""
    st.caption(f"{r.n_evaluated:,} {what} evaluated, {r.n_skipped:,} skipped (no relevant "
               f"items) in {r.seconds:.2f} s{extra}.")
    if pop is not None:
        line = (f"Popularity reference (the same {what}, ranked by training counts alone): "
                f"precision@{r.k} {fmt(pop.precision)}, recall@{r.k} {fmt(pop.recall)}, "
                f"NDCG@{r.k} {fmt(pop.ndcg)}.")
        if r.precision < pop.precision:
            line += " The model ranks worse than popularity. " + ranking_advice(ss.bundle.model.params)
        st.caption(line)
    left, right = st.columns(2)
    curve = r.curve
    left.plotly_chart(metric_vs_k(curve["k"].tolist(), curve["precision"].tolist(),
                                         curve["recall"].tolist(), curve["ndcg"].tolist(), r.k),
                      key="fig_vs_k", width="stretch")
    right.plotly_chart(per_subject_hist(r.per_subject, what), key="fig_hist",
                       width="stretch")
    left.caption("Means over the same subjects for each k; the dashed line marks the chosen k.")
    right.caption(f"precision@{r.k} and recall@{r.k} of each evaluated {what[:-1]}.")
    if opts["scope"] == "chosen" and len(r.per_subject) <= 50:
        st.dataframe(r.per_subject, hide_index=True, width="stretch", key="tbl_per_subject")


def ranking_advice(params: dict) -> str:
    """What to try when a model ranks below popularity, for the way it was trained."""
    if params.get("solver") == "als":
        return ("Try more factors or iterations, or another λ or α (the Tune page searches "
                "them).")
    if not params.get("neg_ratio"):
        return ("It was fitted on observed values only, so it never learnt *which* songs get "
                "played: train with the ALS solver, or SGD with implicit negatives (ρ > 0).")
    return "Try the ALS solver, the default for play counts and playlists."


def accuracy_section(b: Bundle) -> None:
    from mfcore.evaluate.accuracy import baselines, score_predictions
    if b.model.params.get("solver") == "als" or b.prepared.train.kind == "binary":
        return  # ALS scores preferences, and presence-only targets are all 1: no RMSE to show
    st.divider()
    st.subheader("RMSE against baselines")
    val = b.prepared.val
    if val is None or len(val) == 0:
        st.info("No validation rows: choose a split on the Data page to compare RMSE with the "
                "baselines.", icon=":material/info:")
        return
    store = ss.setdefault("baseline_results", {})
    if b.job_id not in store:
        try:
            with st.spinner("Scoring the baselines…"):
                model_scores = score_predictions(b.model, val, train=b.prepared.train)
                base = baselines(b.prepared.train, val)
        except Exception as exc:  # noqa: BLE001
            st.error(f"Could not score the baselines: {error_text(exc)}", icon=":material/error:")
            return
        store[b.job_id] = (model_scores, base)
    model_scores, base = store[b.job_id]
    rows = [("model (MF)", model_scores["rmse"])] + [(n, v["rmse"]) for n, v in base.items()]
    left, right = st.columns([3, 2])
    left.plotly_chart(rmse_bars(rows), key="fig_rmse_bars", width="stretch")
    table = pd.DataFrame({"predictor": [r[0] for r in rows],
                          "RMSE": [r[1] for r in rows],
                          "MAE": [model_scores["mae"]] + [v["mae"] for v in base.values()]})
    right.dataframe(table, hide_index=True, width="stretch", key="tbl_rmse")
    cold = model_scores.get("n_cold_rows", 0)
    right.caption(
        f"On {len(val):,} validation rows (transform: {b.prepared.opts.transform}). "
        "RMSE = √mean (r − r̂)², MAE = mean |r − r̂|. Baselines: global mean r̂ = μ; biases "
        "r̂ = μ + b_u + b_i (regularised averages); popularity r̂ = the song's shrunken mean. "
        + (f"{cold:,} rows have a user or song unseen in training (predicted without its "
           "factors)." if cold else ""))


def page() -> None:
    st.title("Evaluate")
    b: Bundle | None = ss.get("bundle")
    if b is None:
        st.caption("Ranking quality (precision@k, recall@k) and rating accuracy (RMSE).")
        st.info("No model yet in this session: train one first.", icon=":material/info:")
        st.page_link("pages/train_page.py", label="Go to Train", icon=":material/model_training:")
        return
    st.caption(f"Model: {b.label} · {len(b.history)} epochs ({b.status})")
    ranking_section(b)
    accuracy_section(b)


page()
