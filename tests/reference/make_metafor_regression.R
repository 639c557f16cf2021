# Reference values for hipacu.regression (meta-regression, permutation tests, subgroups), from metafor.
#
# Run from the repository root (needs Debian's r-base-core r-cran-metafor r-cran-metadat
# r-cran-jsonlite):
#     Rscript tests/reference/make_metafor_regression.R
# Writes tests/reference/metafor_regression.json (every double at 17 significant digits). CI does
# not need R: the JSON is committed and tests/test_regression.py compares hipacu against it.
#
# metafor calls:
#   meta-regression   rma(yi, vi, mods = M, intercept = ..., method = ..., test = "z"/"knha")
#   permutation test  permutest(fit, exact = TRUE)  (deterministic), and one random test with
#                     iter = 1000 and a seed (compared statistically)
#   subgroups         separate: rma(yi, vi, subset = g == level) per level, then
#                     rma(estimates, sei = ses, method = "FE") for the test of differences;
#                     common:   rma(yi, vi, mods = ~ factor(g)) for QM and
#                     predict(rma(yi, vi, mods = ~ factor(g) - 1), newmods = diag(G)) per level.
# The moderator matrices are built here (model.matrix for factors) and stored, so that hipacu gets
# exactly the design metafor fitted. Iterative estimators run with tight controls (the tightest
# threshold that converges is recorded per case).

suppressMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-14, maxiter = 10000, tol = 1e-14, stepadj = 1)
thresholds <- c(1e-14, 1e-12, 1e-10)
methods <- c("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "EB", "HE")
num <- function(x) unname(as.numeric(x))
nul <- function(x) if (is.null(x)) NA_real_ else num(x)

# ---------------------------------------------------------------- data sets
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
raud <- dat.raudenbush1985
molloy <- escalc("ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
hack <- dat.hackshaw1998
normand <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                  data = dat.normand1999)
niel <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.nielweise2007)

dummies <- function(f) {  # treatment-coded dummies of a factor (first level = reference)
  m <- model.matrix(~ factor(f))[, -1, drop = FALSE]
  colnames(m) <- levels(factor(f))[-1]
  m
}
fulldummies <- function(f) {  # one dummy per level (no intercept)
  m <- model.matrix(~ factor(f) - 1)
  colnames(m) <- levels(factor(f))
  m
}
mm <- function(...) {
  cols <- list(...)
  m <- do.call(cbind, lapply(cols, function(x) if (is.matrix(x)) x else as.matrix(x)))
  nm <- unlist(lapply(seq_along(cols), function(i) if (is.matrix(cols[[i]])) colnames(cols[[i]]) else names(cols)[i]))
  colnames(m) <- nm
  m
}

models <- list(
  bcg_ablat = list(d = bcg, M = mm(ablat = bcg$ablat)),
  bcg_ablat_year = list(d = bcg, M = mm(ablat = bcg$ablat, year = bcg$year)),
  bcg_alloc = list(d = bcg, M = dummies(bcg$alloc)),
  bcg_ablat_alloc = list(d = bcg, M = mm(ablat = bcg$ablat, dummies(bcg$alloc))),
  bcg_alloc_noint = list(d = bcg, M = fulldummies(bcg$alloc), intercept = FALSE),
  raud_weeks = list(d = raud, M = mm(weeks = raud$weeks)),
  raud_setting_tester = list(d = raud, M = mm(indiv = as.numeric(raud$setting == "indiv"),
                                              blind = as.numeric(raud$tester == "blind"))),
  molloy_meanage = list(d = molloy, M = mm(meanage = molloy$meanage)),
  molloy_controls_quality = list(d = molloy, M = mm(multiple = as.numeric(molloy$controls == "multiple"),
                                                    quality = molloy$quality)),
  hackshaw_year_cohort = list(d = hack, M = mm(year = hack$year, cohort = as.numeric(hack$design == "cohort"))),
  normand_logn = list(d = normand, M = mm(logn = log(normand$n1i + normand$n2i))),
  nielweise_year = list(d = niel, M = mm(year = niel$year)),
  # edge cases
  edge_k3_p2 = list(d = data.frame(yi = c(0.1, 0.5, 0.2), vi = c(0.04, 0.05, 0.06)), M = mm(x = c(1, 2, 4))),
  edge_identical = list(d = data.frame(yi = rep(0.3, 5), vi = c(0.1, 0.2, 0.3, 0.05, 0.08)),
                        M = mm(x = c(1, 3, 2, 5, 4))),
  edge_homogeneous = list(d = data.frame(yi = c(0.30, 0.31, 0.29, 0.30, 0.32), vi = c(0.1, 0.2, 0.15, 0.3, 0.12)),
                          M = mm(x = c(0, 1, 0, 1, 1))),
  edge_huge_variance = list(d = data.frame(yi = c(0.1, 0.4, -0.2, 0.3, 5.0, 0.2), vi = c(0.02, 0.03, 0.05, 0.04, 1e6, 0.03)),
                            M = mm(x = c(1, 2, 3, 4, 5, 6)))
)

fit_case <- function(d, M, intercept, method, knha, thr) {
  ctl <- modifyList(tight, list(threshold = thr))
  suppressWarnings(rma(yi = num(d$yi), vi = num(d$vi), mods = M, intercept = intercept, method = method,
                       test = if (knha) "knha" else "z", control = ctl))
}
with_thr <- function(label, fun) {
  for (thr in thresholds) {
    res <- try(fun(thr), silent = TRUE)
    if (!inherits(res, "try-error")) return(list(res = res, thr = thr))
  }
  stop(paste("metafor failed on", label, ":", res))
}

regression <- list()
for (name in names(models)) for (m in methods) for (knha in c(FALSE, TRUE)) {
  spec <- models[[name]]
  intercept <- if (is.null(spec$intercept)) TRUE else spec$intercept
  id <- paste(name, m, if (knha) "knha" else "z", sep = "/")
  ft <- with_thr(id, function(thr) fit_case(spec$d, spec$M, intercept, m, knha, thr))
  res <- ft$res
  regression[[length(regression) + 1]] <- list(
    id = id, model = name, method = m, knha = knha, threshold = ft$thr, intercept = intercept,
    yi = num(spec$d$yi), vi = num(spec$d$vi),
    mods = lapply(seq_len(ncol(spec$M)), function(j) num(spec$M[, j])), mod_names = colnames(spec$M),
    expected = list(
      k = res$k, p = res$p, coefficients = num(res$beta), se = num(res$se), statistic = num(res$zval),
      pval = num(res$pval), ci_low = num(res$ci.lb), ci_high = num(res$ci.ub), vcov = num(res$vb),
      tau2 = num(res$tau2), qm = num(res$QM), qm_df = num(res$QMdf[1]), qm_pval = num(res$QMp),
      qe = num(res$QE), qe_pval = num(res$QEp), i2 = num(res$I2), h2 = num(res$H2), r2 = nul(res$R2),
      btt = num(res$btt)
    )
  )
}

# ---------------------------------------------------------------- metafor's errors (hipacu: ValueError)
errors <- list()
add_error <- function(id, expr_fun, what) {
  out <- try(suppressWarnings(expr_fun()), silent = TRUE)
  errors[[length(errors) + 1]] <<- list(id = id, what = what, metafor_error = inherits(out, "try-error"),
                                        message = if (inherits(out, "try-error")) trimws(as.character(out)) else "")
}
add_error("k_equals_p_plus_0", function() rma(c(0.1, 0.4), c(0.1, 0.1), mods = c(1, 2), method = "REML"),
          "k = 2 studies, intercept + 1 moderator (RE needs k >= p + 1)")
add_error("rank_deficient", function() rma(bcg$yi, bcg$vi, mods = cbind(bcg$ablat, 2 * bcg$ablat)),
          "two proportional moderators (metafor drops one with a warning; hipacu refuses)")
add_error("constant_moderator", function() rma(bcg$yi, bcg$vi, mods = rep(3, 13)),
          "a moderator without variance next to the intercept (metafor drops it with a warning; hipacu refuses)")
add_error("nan_in_mods", function() rma(bcg$yi, bcg$vi, mods = c(NA, bcg$ablat[-1])),
          "NaN in mods (metafor omits the study with a warning; hipacu refuses)")

# ---------------------------------------------------------------- permutation tests
perm_case <- function(id, d, M, intercept, method, knha) {
  res <- fit_case(d, M, intercept, method, knha, 1e-12)
  pt <- suppressWarnings(permutest(res, exact = TRUE, progbar = FALSE))
  list(id = id, method = method, knha = knha, intercept = intercept, exact = TRUE,
       yi = num(d$yi), vi = num(d$vi),
       mods = lapply(seq_len(ncol(M)), function(j) num(M[, j])), mod_names = colnames(M),
       expected = list(pval = num(pt$pval), qm_pval = num(pt$QMp), n = num(pt$exact.iter),
                       statistic = num(res$zval), qm = num(res$QM)))
}
b7 <- bcg[1:7, ]
b6 <- bcg[1:6, ]
r8 <- raud[1:8, ]
m7 <- molloy[1:7, ]
permutation <- list(
  perm_case("bcg7_ablat/REML/z", b7, mm(ablat = b7$ablat), TRUE, "REML", FALSE),
  perm_case("bcg6_ablat_year/FE/z", b6, mm(ablat = b6$ablat, year = b6$year), TRUE, "FE", FALSE),
  perm_case("raud8_blind/DL/knha", r8, mm(blind = as.numeric(r8$tester == "blind")), TRUE, "DL", TRUE),
  perm_case("molloy7_meanage/ML/knha", m7, mm(meanage = m7$meanage), TRUE, "ML", TRUE),
  perm_case("normand_intercept_only/DL/z", normand, mm(one = rep(1, 9)), FALSE, "DL", FALSE)
)
# a random (approximate) test: compared with hipacu statistically, not exactly
res_r <- fit_case(bcg, mm(ablat = bcg$ablat), TRUE, "REML", FALSE, 1e-12)
pt_r <- suppressWarnings(permutest(res_r, iter = 1000, seed = 20240601, progbar = FALSE))
permutation_random <- list(
  id = "bcg_ablat/REML/z/iter1000", method = "REML", knha = FALSE, intercept = TRUE, iter = 1000,
  yi = num(bcg$yi), vi = num(bcg$vi), mods = list(num(bcg$ablat)), mod_names = "ablat",
  expected = list(pval = num(pt_r$pval), qm_pval = num(pt_r$QMp))
)

# ---------------------------------------------------------------- subgroups
groupings <- list(
  bcg_alloc = list(d = bcg, g = as.character(bcg$alloc)),
  molloy_controls = list(d = molloy, g = as.character(molloy$controls)),
  hackshaw_design = list(d = hack, g = as.character(hack$design)),
  raud_setting = list(d = raud, g = as.character(raud$setting)),
  # a subgroup of one study ("C"); 'separate' with knha is refused by hipacu (not generated)
  singleton = list(d = data.frame(yi = c(0.2, 0.5, 0.1, -0.1, 0.3, 0.0, 0.4, 0.9),
                                  vi = c(0.04, 0.06, 0.05, 0.03, 0.07, 0.02, 0.05, 0.08)),
                   g = c("A", "A", "A", "B", "B", "B", "B", "C"))
)

separate_case <- function(name, d, g, method, knha, thr) {
  ctl <- modifyList(tight, list(threshold = thr))
  levs <- sort(unique(g))
  per <- list()
  est <- se <- numeric(0)
  for (lv in levs) {
    sel <- g == lv
    r <- suppressWarnings(rma(num(d$yi)[sel], num(d$vi)[sel], method = method,
                              test = if (knha) "knha" else "z", control = ctl))
    pr <- predict(r)
    est <- c(est, num(r$beta))
    se <- c(se, num(r$se))
    per[[lv]] <- list(k = r$k, estimate = num(r$beta), se = num(r$se), ci_low = num(r$ci.lb),
                      ci_high = num(r$ci.ub), statistic = num(r$zval), pval = num(r$pval), tau2 = num(r$tau2),
                      i2 = num(r$I2), h2 = num(r$H2), q = num(r$QE), q_pval = num(r$QEp),
                      pi_low = nul(pr$pi.lb), pi_high = nul(pr$pi.ub))
  }
  between <- rma(est, sei = se, method = "FE")
  list(subgroups = per, q_between = num(between$QE), df = length(levs) - 1, pval = num(between$QEp))
}

common_case <- function(name, d, g, method, knha, thr) {
  ctl <- modifyList(tight, list(threshold = thr))
  test <- if (knha) "knha" else "z"
  levs <- sort(unique(g))
  r1 <- suppressWarnings(rma(num(d$yi), num(d$vi), mods = ~ factor(g), method = method, test = test, control = ctl))
  r0 <- suppressWarnings(rma(num(d$yi), num(d$vi), mods = ~ factor(g) - 1, method = method, test = test, control = ctl))
  pr <- predict(r0, newmods = diag(length(levs)))
  per <- list()
  for (i in seq_along(levs)) {
    per[[levs[i]]] <- list(k = sum(g == levs[i]), estimate = num(pr$pred[i]), se = num(pr$se[i]),
                           ci_low = num(pr$ci.lb[i]), ci_high = num(pr$ci.ub[i]),
                           pi_low = num(pr$pi.lb[i]), pi_high = num(pr$pi.ub[i]), tau2 = num(r1$tau2),
                           i2 = num(r1$I2), h2 = num(r1$H2))
  }
  list(subgroups = per, q_between = num(r1$QM), df = num(r1$QMdf[1]), df2 = num(r1$QMdf[2]),
       pval = num(r1$QMp), tau2 = num(r1$tau2))
}

subgroups <- list()
for (name in names(groupings)) for (m in methods) for (knha in c(FALSE, TRUE)) for (mode in c("separate", "common")) {
  if (name == "singleton" && mode == "separate" && knha) next
  gr <- groupings[[name]]
  id <- paste(name, m, if (knha) "knha" else "z", mode, sep = "/")
  fun <- if (mode == "separate") separate_case else common_case
  ft <- with_thr(id, function(thr) list(out = fun(name, gr$d, gr$g, m, knha, thr)))
  subgroups[[length(subgroups) + 1]] <- list(
    id = id, grouping = name, method = m, knha = knha, tau2 = mode, threshold = ft$thr,
    yi = num(gr$d$yi), vi = num(gr$d$vi), groups = gr$g, expected = ft$res$out
  )
}

out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
              metadat = as.character(packageVersion("metadat")), control = tight,
              note = "generated by tests/reference/make_metafor_regression.R"),
  methods = methods,
  models = names(models),
  groupings = names(groupings),
  regression = regression,
  errors = errors,
  permutation = permutation,
  permutation_random = permutation_random,
  subgroups = subgroups
)
source("tests/reference/write_exact_json.R")
write_exact_json(out, "tests/reference/metafor_regression.json")
cat("wrote tests/reference/metafor_regression.json:", length(regression), "meta-regression cases,",
    length(permutation), "exact permutation tests + 1 random,", length(subgroups), "subgroup cases,",
    length(errors), "error cases\n")
