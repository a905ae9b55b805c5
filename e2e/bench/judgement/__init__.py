"""``python -m e2e.bench.judgement``: how fast each judge catches a bad canary, fairly.

Seeded and offline. Simulated request streams (:mod:`.traffic`) at total rates
of 10 / 100 / 1000 rps, canary shares of 5 / 20 / 50 % and stable bad rates of
0.1 % and 1 %, with canary regressions of 1.5x, 2x, 5x and a 50 %-error outage,
and A/A runs (no regression) in four scenarios: stationary, a +30 % step of
both revisions' base rate at the canary's start, diurnal +-30 %, and a 60 s
burst of errors on both revisions (a dependency hiccup). Every run lasts 30
minutes (the canary's time to promotion); a regression not caught by then is
missed.

Every judge sees the same counts at the controller's cadence: a look every
10 s (the default ``analysis.interval``), each covering the requests since the
previous look, read as if a scrape had just happened.

* **ours** — :mod:`controller.judge.sequential` (alpha 0.01, beta 0.1, min
  ratio 1.5) driven as the controller drives it: one update per look, a passed
  canary still judged until promotion.
* **oracle** — Wald's two-arm SPRT on the same looks, told the true ratio but not
  the stable's rate: the floor for any test that learns the stable's rate from
  concurrent traffic. Beside it, Wald's expected sample size of that test (Wald
  2-arm) and of the one-arm SPRT that knows the stable's rate (1-arm, a
  reference no comparison can reach: 1.08x / 1.34x / 2.30x below the two-arm
  one at 5 / 20 / 50 % share for a 2x regression).
* **Flagger and Argo at their documented settings.** Flagger: a check every
  ``interval`` (default 1 m) of the canary's success rate over it, no data is a
  failed check, rollback when failed checks reach ``threshold`` (default 1). A
  metric's range has no default; ``min: 99`` is the docs' example and is used
  here — at a 1 % base rate it rolls back most good canaries. Argo: only
  ``failureLimit`` 0 and one measurement are defaults; the docs' example is used
  (a measurement at once, then every 5 m, ``result[0] >= 0.95``, failureLimit 3,
  so the 4th failure fails; an empty result is an error, and more than
  ``consecutiveErrorLimit`` 4 in a row abort).
* **Flagger and Argo best-tuned** (:mod:`.tuning`): per family and traffic,
  schedule (interval 10 / 30 / 60 s x 1-3 failed checks) and threshold chosen
  together on a *calibration* seed — the threshold the most sensitive keeping
  A/A <= alpha, the schedule the one catching a 2x regression with the fewest
  canary requests — and judged on the *evaluation* seed. ``tuned`` is calibrated
  under all four scenarios (A/A <= alpha in each); ``tuned_no_burst`` under
  all but the burst; ``tuned_stationary`` on stationary traffic only, as a
  threshold set from last week's dashboards is; ``flagger_tuned`` /
  ``argo_tuned`` in each case (the former keys) keep the documented schedule and
  calibrate the threshold only, on stationary traffic.

What the comparison is: the same simulated counts, the same looks, the same
false-rollback budget, the baselines tuned on the same traffic they are judged
on (other seed) — generous to them. What it is not: a model of Flagger's or
Argo's query pipelines (scrape lag, ``rate()`` extrapolation, weight steps,
promotion on a pass, canary analysis ending early) or of real traffic (counts
are binomial; shares constant; drift is the four scenarios above).

Printed: the calibrated rules; per case canary requests to the rollback
(median over runs rolled back, and the share of runs rolled back) and seconds;
per share the 2x figures against the floors; the A/A rates per scenario of
every judge; the targets (:mod:`.targets`) as PASS / FAIL. ``--json PATH``
keeps every figure: per case the former keys plus ``oracle_two_arm_requests``,
``tuned``, ``tuned_no_burst`` and ``tuned_stationary`` (``{"flagger": ...,
"argo": ...}``, each like ``flagger``); at the top ``drift`` (``scenario``, ``method``,
``false_rollback``, for ours, ``flagger_default``, ``argo_default``,
``flagger_tuned``, ``argo_tuned`` — the last two best-tuned under drift),
``drift_other`` (the other tunings), ``tuned_rules``, ``aa`` (stationary,
former keys), ``targets`` and ``references`` (the comparison against the other
tunings: figures, not targets). ``--quick`` runs one traffic (100 rps, 20 %, 1 %).
"""
