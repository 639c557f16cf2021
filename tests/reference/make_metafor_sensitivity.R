# Reference values for hipacu.sensitivity (leave-one-out, cumulative, influence), from metafor.
#
# Run from the repository root (needs Debian's r-base-core r-cran-metafor r-cran-metadat
# r-cran-jsonlite):
#     Rscript tests/reference/make_metafor_sensitivity.R
# Writes tests/reference/metafor_sensitivity.json (every double at 17 significant digits). CI does
# not need R: the JSON is committed and tests/test_sensitivity.py compares hipacu against it.
#
# metafor calls: leave1out(rma(...)), cumul(rma(...), order = ...), influence(rma(...)).
# The iterative estimators run with tight convergence controls, which leave1out/cumul/influence
# pass on to every refit. A refit that fails inside metafor becomes NA silently, so every case is
# checked for NA and retried with a looser threshold (the one used is recorded per case).

suppressMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-14, maxiter = 10000, tol = 1e-14, stepadj = 1)
thresholds <- c(1e-14, 1e-12, 1e-10)
main_methods <- c("FE", "DL", "REML")
extra_methods <- c("ML", "PM", "HS", "SJ", "EB", "HE")  # on one dataset (BCG) only

num <- function(x) unname(as.numeric(x))

# ---------------------------------------------------------------- data sets
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
normand <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                  data = dat.normand1999)
raud <- dat.raudenbush1985
hack <- dat.hackshaw1998
molloy <- escalc("ZCOR", ri = ri, ni = ni, data = dat.molloy2014)

# `order` is metafor's sort key for cumul() (the studies are sorted by it, ties kept in data order)
datasets <- list(
  bcg_logrr = list(yi = num(bcg$yi), vi = num(bcg$vi), order = num(bcg$year)),
  normand_smd = list(yi = num(normand$yi), vi = num(normand$vi)),
  raudenbush = list(yi = num(raud$yi), vi = num(raud$vi), order = num(raud$year)),
  hackshaw_logor = list(yi = num(hack$yi), vi = num(hack$vi), order = num(hack$year)),
  molloy_zcor = list(yi = num(molloy$yi), vi = num(molloy$vi), order = num(molloy$year)),
  # edge cases
  edge_k2 = list(yi = c(0.2, 0.9), vi = c(0.04, 0.09)),
  edge_identical = list(yi = c(0.1, 0.1, 0.1, 0.1), vi = c(0.1, 0.2, 0.3, 0.05)),
  edge_huge_variance = list(yi = c(0.1, 0.4, -0.2, 0.3, 5.0), vi = c(0.02, 0.03, 0.05, 0.04, 1e6))
)
# k = 1: cumul() runs (one row); leave1out() and influence() stop (recorded under `errors`)
edge_k1 <- list(yi = 0.5, vi = 0.1)

fit <- function(d, method, knha, level, thr) {
  ctl <- modifyList(tight, list(threshold = thr))
  suppressWarnings(rma(yi = d$yi, vi = d$vi, method = method, test = if (knha) "knha" else "z",
                       level = level * 100, control = ctl))
}

# try the thresholds from tightest to loosest until the full fit and every refit succeed
with_threshold <- function(label, fun) {
  for (thr in thresholds) {
    out <- try(fun(thr), silent = TRUE)
    if (inherits(out, "try-error") && nzchar(Sys.getenv("SENS_DEBUG"))) message(label, ": ", out)
    if (!inherits(out, "try-error") && !anyNA(unlist(out$expected))) {
      out$threshold <- thr
      return(out)
    }
  }
  stop(paste("metafor failed (or returned NA) on", label))
}

rows <- function(res) {
  # leave1out/cumul list.rma -> named columns (hipacu names); tau2 is absent for FE in metafor
  stat <- if (!is.null(res$zval)) res$zval else res$tval
  pval <- if (!is.null(res$pval)) res$pval else res$pvals
  list(estimate = num(res$estimate), se = num(res$se), statistic = num(stat), pval = num(pval),
       ci_low = num(res$ci.lb), ci_high = num(res$ci.ub), q = num(res$Q), q_pval = num(res$Qp),
       tau2 = if (is.null(res$tau2)) NULL else num(res$tau2),
       i2 = num(res$I2), h2 = num(res$H2))
}

case_id <- function(...) paste(..., sep = "/")

# ---------------------------------------------------------------- leave1out
loo_case <- function(name, method, knha, level = 0.95) {
  d <- datasets[[name]]
  id <- case_id(name, method, if (knha) "knha" else "z", level)
  with_threshold(id, function(thr) {
    res <- leave1out(fit(d, method, knha, level, thr))
    list(id = id, dataset = name, method = method, knha = knha, level = level,
         omitted = num(res$slab) - 1, expected = rows(res))
  })
}

leave1out_cases <- list()
add <- function(lst, x) c(lst, list(x))
for (name in names(datasets)) for (m in main_methods) for (knha in c(FALSE, TRUE))
  leave1out_cases <- add(leave1out_cases, loo_case(name, m, knha))
for (m in extra_methods) leave1out_cases <- add(leave1out_cases, loo_case("bcg_logrr", m, FALSE))
for (knha in c(FALSE, TRUE)) leave1out_cases <- add(leave1out_cases, loo_case("bcg_logrr", "REML", knha, 0.90))

# ---------------------------------------------------------------- cumul
cum_case <- function(name, method, knha, ordered, level = 0.95) {
  d <- if (name == "edge_k1") edge_k1 else datasets[[name]]
  id <- case_id(name, method, if (knha) "knha" else "z", level, if (ordered) "by_order" else "data_order")
  with_threshold(id, function(thr) {
    x <- fit(d, method, knha, level, thr)
    key <- d$order
    # do.call: cumul() looks the order argument up by name (non-standard evaluation)
    res <- if (ordered) do.call(cumul, list(x, order = key)) else cumul(x)
    list(id = id, dataset = name, method = method, knha = knha, level = level,
         order = if (ordered) key else NULL,
         added = num(res$slab) - 1, expected = rows(res))
  })
}

cumul_cases <- list()
for (name in c(names(datasets), "edge_k1")) for (m in main_methods) for (knha in c(FALSE, TRUE)) {
  cumul_cases <- add(cumul_cases, cum_case(name, m, knha, FALSE))
  if (!is.null(datasets[[name]]$order))
    cumul_cases <- add(cumul_cases, cum_case(name, m, knha, TRUE))
}
for (m in extra_methods) cumul_cases <- add(cumul_cases, cum_case("bcg_logrr", m, FALSE, TRUE))
for (knha in c(FALSE, TRUE)) cumul_cases <- add(cumul_cases, cum_case("bcg_logrr", "REML", knha, TRUE, 0.90))

# ---------------------------------------------------------------- influence
infl_case <- function(name, method) {
  d <- datasets[[name]]
  id <- case_id(name, method)
  with_threshold(id, function(thr) {
    x <- fit(d, method, FALSE, 0.95, thr)
    inf <- influence(x)
    list(id = id, dataset = name, method = method,
         expected = list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
                         cook_d = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r),
                         tau2_del = num(inf$inf$tau2.del), q_del = num(inf$inf$QE.del),
                         hat = num(inf$inf$hat), weight = num(inf$inf$weight),
                         dfbetas = num(inf$dfbs$intrcpt),
                         influential = as.logical(inf$is.infl)))
  })
}

influence_cases <- list()
for (name in names(datasets)) for (m in main_methods)
  influence_cases <- add(influence_cases, infl_case(name, m))
for (m in extra_methods) influence_cases <- add(influence_cases, infl_case("bcg_logrr", m))

# ---------------------------------------------------------------- metafor errors
err <- function(fun, expr) {
  msg <- tryCatch({ force(expr); NA_character_ }, error = function(e) conditionMessage(e))
  if (is.na(msg)) stop(paste(fun, "was expected to fail"))
  list(fun = fun, dataset = "edge_k1", message = msg)
}
r1 <- suppressWarnings(rma(yi = edge_k1$yi, vi = edge_k1$vi, method = "REML"))
errors <- list(err("leave1out", leave1out(r1)), err("influence", influence(r1)))

datasets$edge_k1 <- edge_k1
out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
              metadat = as.character(packageVersion("metadat")),
              control = tight, thresholds = thresholds,
              note = "generated by tests/reference/make_metafor_sensitivity.R"),
  main_methods = main_methods,
  extra_methods = extra_methods,
  datasets = datasets,
  leave1out = leave1out_cases,
  cumul = cumul_cases,
  influence = influence_cases,
  errors = errors
)
source("tests/reference/write_exact_json.R")
write_exact_json(out, "tests/reference/metafor_sensitivity.json")
cat("wrote tests/reference/metafor_sensitivity.json:", length(leave1out_cases), "leave1out cases,",
    length(cumul_cases), "cumul cases,", length(influence_cases), "influence cases,",
    length(errors), "error cases\n")
