"""Evaluate: precision@k / recall@k (both definitions, both directions) and RMSE vs baselines."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from mfcore.report import metric_vs_k, per_subject_hist, rmse_bars
from mfcore.values import fmt
from ui.pickers import pick_songs
from ui.session import Bundle
from ui.text import error_text, human_seconds, plural, ranking_advice, rmse_applies
from ui.widgets import persisted

ss = st.session_state
DEFINITIONS = {"heldout": "Held-out (standard)",
               "favourites": "Favourites (how well it refits its data)"}
DIRECTIONS = {"users": "Users → songs (each user's top songs)",
              "items": "Songs → users (each song's top fans)"}
SCOPES = {"sample": "A random sample", "all": "All", "chosen": "Chosen ones"}
CURVE_KS = (1, 2, 3, 5, 10, 15, 20, 30, 40, 50)
ESTIMATE_SAMPLE = 300  # subjects timed to estimate a run over all of them


def definition_text(definition: str, direction: str, threshold: float | None) -> str:
    cands = "songs" if direction == "users" else "users"
    subj = "user" if direction == "users" else "song"
    if definition == "heldout":
        thr = f" with a held-out value ≥ {threshold:g}" if threshold is not None else ""
        return (f"**Held-out.** For each {subj}: relevant R = its held-out {cands}{thr}; "
                f"candidates = all {cands} except its training {cands}; T = the top-k "
                f"candidates. precision@k = |R ∩ T| / k, recall@k = |R ∩ T| / |R|. "
                f"{subj.capitalize()}s with R empty are skipped and counted.")
    return (f"**Favourites** (the measure of the Million Song Dataset study this tool grew from). "
            f"For each {subj}: relevant R = its k most-played "
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
            with c2:
                if direction == "users":
                    chosen = choose_users(p)
                else:  # the whole catalogue, searched on the server
                    chosen = pick_songs(p, "ev_chosen_songs", "Songs")
        threshold = None
        if definition == "heldout":
            use_thr = c3.toggle("Only held-out values ≥ a threshold count as relevant",
                                key="ev_use_thr")
            if use_thr:
                threshold = c3.number_input("Threshold (on the training scale)", value=1.0,
                                            step=0.5, key="ev_thr")
    return dict(definition=definition, direction=direction, k=int(k), sample=sample,
                subjects=tuple(chosen) if chosen else None, scope=scope, threshold=threshold)


def choose_users(p) -> list:
    """Users to evaluate: the most active 20,000, searched by id in the browser."""
    order = p.users_by_activity[:20_000]
    names, counts = p.user_names, p.user_counts
    return st.multiselect("Users", order.tolist(), key="ev_chosen", select_all=False,
                          format_func=lambda u: f"{names[u]} · {plural(int(counts[u]), 'row')}",
                          placeholder="Type to search…")


def model_data_key(b: Bundle) -> tuple:
    """What a cached figure was computed from: the model (its training job; a model without one
    by the moment it became current) and the data (fingerprint and preparation)."""
    return (b.job_id or b.finished, b.prepared.fingerprint, repr(b.prepared.opts))


def current_store(name: str, b: Bundle) -> dict:
    """``ss[name]``, a dict keyed by (model_data_key, ...), without the entries of another model
    or dataset: a new model or new data drops what was computed for the old one."""
    mine = model_data_key(b)
    store = {k: v for k, v in ss.get(name, {}).items() if k[0] == mine}
    ss[name] = store
    return store


def passes(b: Bundle, opts: dict) -> dict:
    """The ranking passes of **Run evaluation**: name -> (model, k or list of k)."""
    from mfcore.evaluate.ranking import popularity_model
    ks = sorted({x for x in CURVE_KS if x <= max(opts["k"], 20)} | {opts["k"]})
    return {"model": (b.model, ks), "popularity": (popularity_model(b.prepared.train), opts["k"])}


def ranking_options(b: Bundle, opts: dict) -> dict:
    """The options every pass shares (as evaluate_ranking takes them)."""
    return dict(definition=opts["definition"], direction=opts["direction"],
                subjects=opts["subjects"], sample=opts["sample"], seed=0,
                threshold=opts["threshold"],
                full_data=b.prepared.split.train if b.prepared.val is None else None)


def run_evaluation(b: Bundle, opts: dict) -> dict:
    """The model at every k of the curve (one pass) under "model", and the popularity reference
    at the chosen k under "popularity", with one progress bar across both."""
    from mfcore.evaluate.ranking import evaluate_ranking
    runs = passes(b, opts)
    bar = st.progress(0.0, text="Evaluating…")
    results: dict = {"seconds": {}}
    for n, (name, (model, k)) in enumerate(runs.items()):
        t0 = time.perf_counter()
        def progress(fraction: float, message: str = "", n=n, name=name) -> None:
            done = (n + min(max(fraction, 0.0), 1.0)) / len(runs)
            bar.progress(done, text=f"Evaluating the {name} ({n + 1} of {len(runs)})…")
        results[name] = evaluate_ranking(model, b.prepared.train, b.prepared.val, k=k,
                                         progress=progress, **ranking_options(b, opts))
        results["seconds"][name] = time.perf_counter() - t0
    bar.empty()
    return results


def estimate_run(b: Bundle, opts: dict) -> dict:
    """How long **Run evaluation** over every subject will take: both passes timed on a seeded
    sample of ESTIMATE_SAMPLE subjects and scaled (:func:`estimate_seconds`)."""
    from mfcore.evaluate.estimate import estimate_seconds
    t0 = time.perf_counter()
    shared = {k: v for k, v in ranking_options(b, opts).items() if k != "sample"}
    ests = [estimate_seconds(model, b.prepared.train, b.prepared.val, k=k,
                             sample=ESTIMATE_SAMPLE, **shared)
            for model, k in passes(b, opts).values()]
    return {"seconds": sum(e.seconds for e in ests), "n_subjects": ests[0].n_subjects,
            "n_timed": ests[0].n_timed, "took": time.perf_counter() - t0}


def show_estimate(b: Bundle, opts: dict, key: tuple) -> None:
    """Before a run over every user (or song): its estimated time, once per model, data and
    settings."""
    store = current_store("eval_estimates", b)
    what = "users" if opts["direction"] == "users" else "songs"
    if key not in store:
        try:
            with st.spinner(f"Timing {ESTIMATE_SAMPLE} sampled {what} to estimate the run…"):
                store[key] = estimate_run(b, opts)
        except Exception as exc:  # noqa: BLE001
            st.warning(f"Could not estimate the time: {error_text(exc)}",
                       icon=":material/warning:")
            return
    est = store[key]
    st.info(f"Estimated time for all {est['n_subjects']:,} {what} with relevant items: about "
            f"{human_seconds(est['seconds'])} for both passes — an estimate from "
            f"{plural(est['n_timed'], 'sampled ' + what[:-1])} ranked by the model and the "
            f"popularity reference and scaled to all of them (the sample took "
            f"{human_seconds(est['took'])}).", icon=":material/timer:")


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
    key = (model_data_key(b), tuple(sorted((k, str(v)) for k, v in opts.items())))
    store = current_store("eval_results", b)
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
        st.caption(before_text(b, opts))
        if opts["scope"] == "all":
            show_estimate(b, opts, key)
        return
    show_results(results, opts)


def before_text(b: Bundle, opts: dict) -> str:
    """What **Run evaluation** will do, counted in the direction's subjects."""
    data = b.prepared.display
    what = "user" if opts["direction"] == "users" else "song"
    n_all = data.n_users if opts["direction"] == "users" else data.n_items
    if opts["scope"] == "chosen":
        n = len(opts["subjects"] or ())
    else:
        n = min(opts["sample"] or n_all, n_all) if opts["scope"] == "sample" else n_all
    return (f"Press **Run evaluation**: it ranks {plural(n, what)} (at most; those without "
            "relevant items are skipped) twice — the model at every k of the curve in one "
            "pass, then the popularity reference — and says how long both took.")


def curve_ks(r) -> list[int]:
    return [int(x) for x in r.curve["k"]] if r.curve is not None else [r.k]


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
    took = results.get("seconds", {})
    st.caption(f"{plural(r.n_evaluated, what[:-1])} evaluated, {r.n_skipped:,} skipped (no "
               f"relevant items){extra}. Took {human_seconds(sum(took.values()))} in all: the "
               f"model at k = {', '.join(str(x) for x in curve_ks(r))} in one pass "
               f"{human_seconds(took.get('model'))}, the popularity reference "
               f"{human_seconds(took.get('popularity'))}.")
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
        st.dataframe(per_subject_table(r, what[:-1]), hide_index=True, width="stretch",
                     key="tbl_per_subject")


def per_subject_table(r, subject: str) -> pd.DataFrame:
    """Each chosen subject's figures under readable names."""
    names = {"subject_id": subject, "precision": f"precision@{r.k}", "recall": f"recall@{r.k}",
             "ndcg": f"NDCG@{r.k}", "r_precision": "R-precision", "n_relevant": "relevant",
             "hits": f"hits in the top {r.k}"}
    return r.per_subject[[c for c in names if c in r.per_subject]].rename(columns=names)


def score_accuracy(b: Bundle) -> dict:
    """The model's and the baselines' RMSE and MAE on the validation rows, and how long that
    took (:func:`score_predictions`, :func:`baselines`)."""
    from mfcore.evaluate.accuracy import baselines, score_predictions
    t0 = time.perf_counter()
    with st.spinner(f"Scoring the model and the baselines on "
                    f"{len(b.prepared.val):,} validation rows…"):
        model_scores = score_predictions(b.model, b.prepared.val, train=b.prepared.train)
        base = baselines(b.prepared.train, b.prepared.val)
    return {"model": model_scores, "baselines": base, "seconds": time.perf_counter() - t0}


def accuracy_section(b: Bundle) -> None:
    if not rmse_applies(b.model.params, b.prepared.train.implicit):
        return  # ALS scores preferences, and presence-only targets are all 1: no RMSE to show
    st.divider()
    st.subheader("RMSE against baselines")
    val = b.prepared.val
    if val is None or len(val) == 0:
        st.info("No validation rows: choose a split on the Data page to compare RMSE with the "
                "baselines.", icon=":material/info:")
        return
    # Scored on request only, once per model and data: on 48M rows the baselines take ~16 s,
    # which every opening of the page used to spend before drawing anything.
    key = (model_data_key(b),)
    store = current_store("baseline_results", b)
    st.button("Score the baselines", icon=":material/calculate:", key="btn_baselines",
              on_click=lambda: ss.update(baseline_request=key))
    if ss.get("baseline_request") == key and key not in store:
        # Cleared only once answered, as for Run evaluation: a rerun mid-way starts it again.
        try:
            store[key] = score_accuracy(b)
        except Exception as exc:  # noqa: BLE001
            ss.baseline_request = None
            st.error(f"Could not score the baselines: {error_text(exc)}", icon=":material/error:")
            return
        ss.baseline_request = None
    if key not in store:
        st.caption(f"Press **Score the baselines**: it predicts the {len(val):,} validation "
                   "rows with the model and with three baselines (global mean, biases, "
                   "popularity) and says how long that took.")
        return
    show_accuracy(b, store[key])


def show_accuracy(b: Bundle, scored: dict) -> None:
    model_scores, base, val = scored["model"], scored["baselines"], b.prepared.val
    rows = [("model (MF)", model_scores["rmse"])] + [(n, v["rmse"]) for n, v in base.items()]
    left, right = st.columns([3, 2])
    left.plotly_chart(rmse_bars(rows), key="fig_rmse_bars", width="stretch")
    table = pd.DataFrame({"predictor": [r[0] for r in rows],
                          "RMSE": [r[1] for r in rows],
                          "MAE": [model_scores["mae"]] + [v["mae"] for v in base.values()]})
    right.dataframe(table, hide_index=True, width="stretch", key="tbl_rmse")
    cold = model_scores.get("n_cold_rows", 0)
    right.caption(
        f"On {len(val):,} validation rows (transform: {b.prepared.opts.transform}), scored "
        f"in {human_seconds(scored['seconds'])} (the model and the three baselines). "
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
    st.caption(f"Model: {b.label} · {plural(len(b.history), 'epoch')} ({b.status})")
    ranking_section(b)
    accuracy_section(b)


page()
