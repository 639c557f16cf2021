# Reference values for hipacu.bias (small-study effects), computed with metafor.
#
# Run from the repository root (needs Debian's r-base-core r-cran-metafor r-cran-metadat
# r-cran-jsonlite):
#     Rscript tests/reference/make_metafor_bias.R
# Writes tests/reference/metafor_bias.json (every double at 17 significant digits). CI does not
# need R: the JSON is committed and tests/test_bias.py compares hipacu against it.
#
# Calls reproduced:
#   regtest(yi, vi, model = "lm", predictor = "sei" | "vi")               -> egger_test(model="lm")
#   regtest(rma(yi, vi, method = m, test = t), model = "rma", predictor)  -> egger_test(model="rma")
#   regtest(yi, vi, ni = ni, model = ..., predictor = "ninv")             -> peters_test
#   ranktest(yi, vi)                                                      -> begg_test
#   trimfill(rma(yi, vi, method = m), estimator = e, side = s)            -> trim_and_fill
#   qnorm(level/2, lower.tail = FALSE) as used by funnel()                -> funnel_contours
# Iterative fits use tight convergence controls (also passed through trimfill's `...` to its
# internal rma.uni calls), so that both programs report converged values. Where metafor stops
# with an error, the case records the error message instead of values.

suppressMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-14, maxiter = 10000, tol = 1e-14, stepadj = 1, tau2.max = 1e4)
num <- function(x) unname(as.numeric(x))

# ---------------------------------------------------------------- data sets
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
normand <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                  data = dat.normand1999)
raud <- dat.raudenbush1985
hack <- dat.hackshaw1998
magnes <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)  # has a zero cell
molloy <- escalc("ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
pg <- dat.pagliaro1992
pg_s <- pg[pg$trt == "sclerotherapy", ]
pg_c <- pg[pg$trt == "control", ]
pg_m <- merge(pg_s, pg_c, by = "study", suffixes = c(".s", ".c"))
pagliaro <- escalc("OR", ai = xi.s, n1i = ni.s, ci = xi.c, n2i = ni.c, data = pg_m)
# made-up 2x2 tables with single-zero cells and a double-zero table (kept, 1/2 added)
zc <- list(e1 = c(0, 3, 0, 12, 5, 2, 7), n1 = c(20, 25, 15, 12, 30, 40, 60),
           e2 = c(2, 0, 0, 8, 9, 6, 15), n2 = c(22, 24, 16, 14, 31, 38, 61))
zcells <- escalc("OR", ai = zc$e1, n1i = zc$n1, ci = zc$e2, n2i = zc$n2, add = 0.5, to = "only0",
                 drop00 = FALSE)

datasets <- list(
  bcg_logrr = list(yi = num(bcg$yi), vi = num(bcg$vi),
                   ni = num(with(dat.bcg, tpos + tneg + cpos + cneg))),
  hackshaw_logor = list(yi = num(hack$yi), vi = num(hack$vi), ni = NULL),
  normand_smd = list(yi = num(normand$yi), vi = num(normand$vi),
                     ni = num(dat.normand1999$n1i + dat.normand1999$n2i)),
  raudenbush = list(yi = num(raud$yi), vi = num(raud$vi), ni = num(raud$n1i + raud$n2i)),
  magnesium_logor = list(yi = num(magnes$yi), vi = num(magnes$vi),
                         ni = num(dat.egger2001$n1i + dat.egger2001$n2i)),
  molloy_zcor = list(yi = num(molloy$yi), vi = num(molloy$vi), ni = num(dat.molloy2014$ni)),
  pagliaro_logor = list(yi = num(pagliaro$yi), vi = num(pagliaro$vi),
                        ni = num(pg_m$ni.s + pg_m$ni.c)),
  zerocells_logor = list(yi = num(zcells$yi), vi = num(zcells$vi), ni = zc$n1 + zc$n2),
  # edge cases
  edge_k2 = list(yi = c(0.2, 0.9), vi = c(0.04, 0.09), ni = c(100, 40)),
  edge_k3 = list(yi = c(0.2, 0.9, 0.5), vi = c(0.04, 0.09, 0.02), ni = c(100, 40, 200)),
  edge_identical = list(yi = c(0.1, 0.1, 0.1, 0.1), vi = c(0.1, 0.2, 0.3, 0.05), ni = c(40, 20, 14, 80)),
  edge_equal_vi = list(yi = c(0.1, 0.4, 0.3, 0.5, -0.2), vi = rep(0.1, 5), ni = rep(40, 5)),
  edge_tied_vi = list(yi = c(0.1, 0.4, 0.3, 0.5, -0.2, 0.8), vi = c(0.1, 0.1, 0.2, 0.3, 0.05, 0.3),
                      ni = c(40, 40, 20, 14, 80, 14))
)
main_sets <- c("bcg_logrr", "hackshaw_logor", "normand_smd", "raudenbush", "magnesium_logor",
               "molloy_zcor", "pagliaro_logor", "zerocells_logor")
with_ni <- setdiff(main_sets, "hackshaw_logor")

# Run an expression; return list(value=, error=, warnings=)
capture <- function(expr) {
  w <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(conditionMessage(e), class = "metafor_error")),
    warning = function(x) { w <<- c(w, conditionMessage(x)); invokeRestart("muffleWarning") })
  list(value = val, warnings = as.list(unique(w)))
}
errored <- function(r) inherits(r$value, "metafor_error")

# ---------------------------------------------------------------- regression tests
reg_expected <- function(r) {
  x <- r$value
  list(statistic = num(x$zval), pval = num(x$pval), df = if (is.na(x$ddf)) Inf else num(x$ddf),
       limit_estimate = num(x$est), limit_ci_low = num(x$ci.lb), limit_ci_high = num(x$ci.ub),
       slope = num(coef(x$fit)[2]),
       slope_se = if (x$model == "lm") num(coef(summary(x$fit))[2, 2]) else num(x$fit$se[2]),
       limit_se = if (x$model == "lm") num(coef(summary(x$fit))[1, 2]) else num(x$fit$se[1]),
       tau2 = if (x$model == "lm") NULL else num(x$fit$tau2))
}
regression <- list()
add_reg <- function(fun, name, model, predictor, method, knha, r) {
  id <- paste(fun, name, model, predictor, if (model == "rma") paste(method, if (knha) "knha" else "z", sep = "/") else "", sep = "/")
  id <- sub("/$", "", id)
  case <- list(id = id, fun = fun, dataset = name, model = model, predictor = predictor,
               method = if (model == "rma") method else NULL, knha = knha,
               warnings = r$warnings)
  if (errored(r)) case$error <- as.character(r$value) else case$expected <- reg_expected(r)
  regression[[length(regression) + 1]] <<- case
}
egger_sets <- c(main_sets, "edge_k3", "edge_identical", "edge_equal_vi", "edge_tied_vi")
rma_methods <- c("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "EB", "HE")
for (name in egger_sets) {
  d <- datasets[[name]]
  for (pred in c("sei", "vi")) {
    add_reg("egger_test", name, "lm", pred, NA, FALSE,
            capture(regtest(d$yi, d$vi, model = "lm", predictor = pred)))
    for (m in rma_methods) for (knha in c(FALSE, TRUE)) {
      if (knha && !(m %in% c("DL", "REML"))) next
      if (pred == "vi" && !(m %in% c("FE", "REML"))) next
      r <- capture({
        fit <- rma(d$yi, d$vi, method = m, test = if (knha) "knha" else "z", control = tight)
        regtest(fit, model = "rma", predictor = pred)
      })
      add_reg("egger_test", name, "rma", pred, m, knha, r)
    }
  }
}
for (name in c(with_ni, "edge_k3", "edge_equal_vi")) {
  d <- datasets[[name]]
  add_reg("peters_test", name, "lm", "ninv", NA, FALSE,
          capture(regtest(d$yi, d$vi, ni = d$ni, model = "lm", predictor = "ninv")))
  for (m in c("FE", "DL", "REML")) {
    r <- capture(regtest(rma(d$yi, d$vi, method = m, control = tight), ni = d$ni, model = "rma",
                         predictor = "ninv"))
    add_reg("peters_test", name, "rma", "ninv", m, FALSE, r)
  }
}

# ---------------------------------------------------------------- rank correlation test
ranktests <- list()
for (name in c(main_sets, "edge_k2", "edge_k3", "edge_identical", "edge_equal_vi", "edge_tied_vi")) {
  d <- datasets[[name]]
  r <- capture(ranktest(d$yi, d$vi))
  case <- list(id = paste("begg_test", name, sep = "/"), dataset = name, warnings = r$warnings)
  if (errored(r)) {
    case$error <- as.character(r$value)
  } else {
    case$expected <- list(tau = num(r$value$tau), pval = num(r$value$pval))
  }
  ranktests[[length(ranktests) + 1]] <- case
}

# ---------------------------------------------------------------- trim and fill
pool_expected <- function(res) {
  list(k = res$k, estimate = num(res$beta), se = num(res$se), ci_low = num(res$ci.lb),
       ci_high = num(res$ci.ub), statistic = num(res$zval), pval = num(res$pval),
       tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE))
}
trimfills <- list()
tf_sets <- c(main_sets, "edge_k2", "edge_k3", "edge_identical", "edge_equal_vi", "edge_tied_vi")
for (name in tf_sets) for (m in c("FE", "DL", "REML", "ML", "PM")) for (est in c("L0", "R0", "Q0"))
  for (side in c("auto", "left", "right")) {
    if (!(m %in% c("FE", "DL", "REML")) && side != "auto") next
    d <- datasets[[name]]
    r <- capture({
      fit <- rma(d$yi, d$vi, method = m, control = tight)
      if (side == "auto") trimfill(fit, estimator = est, control = tight)
      else trimfill(fit, estimator = est, side = side, control = tight)
    })
    case <- list(id = paste("trim_and_fill", name, m, est, side, sep = "/"), dataset = name,
                 method = m, estimator = est, side = side, warnings = r$warnings)
    if (errored(r)) {
      case$error <- as.character(r$value)
    } else {
      tf <- r$value
      orig <- rma(d$yi, d$vi, method = m, control = tight)
      case$expected <- list(
        k0 = tf$k0, side = tf$side, se_k0 = num(tf$se.k0),
        p_k0 = if (is.na(tf$p.k0)) NULL else num(tf$p.k0),
        filled_yi = num(tf$yi[tf$fill]), filled_vi = num(tf$vi[tf$fill]),
        filled = pool_expected(tf), original = pool_expected(orig))
    }
    trimfills[[length(trimfills) + 1]] <- case
  }

# ---------------------------------------------------------------- funnel contours
# funnel.rma draws, for each level, refline -/+ qnorm(level/2, lower.tail = FALSE) * sqrt(se^2 + tau2)
# over a se grid from 0 to 1.1 * max(sei)
contours <- list()
for (name in c("bcg_logrr", "hackshaw_logor")) for (addtau2 in c(FALSE, TRUE)) {
  d <- datasets[[name]]
  fit <- rma(d$yi, d$vi, method = "REML", control = tight)
  levels <- c(0.90, 0.95, 0.99)
  se_max <- 1.1 * max(sqrt(d$vi))
  se <- seq(from = se_max, to = 0, length.out = 7)
  tau2 <- if (addtau2) num(fit$tau2) else 0
  crit <- qnorm((1 - levels) / 2, lower.tail = FALSE)
  contours[[length(contours) + 1]] <- list(
    id = paste("funnel_contours", name, if (addtau2) "addtau2" else "plain", sep = "/"),
    estimate = num(fit$beta), tau2 = tau2, se_max = se_max, levels = levels, crit = crit,
    se = rev(se),
    left = lapply(crit, function(z) rev(num(fit$beta) - z * sqrt(se^2 + tau2))),
    right = lapply(crit, function(z) rev(num(fit$beta) + z * sqrt(se^2 + tau2))))
}

out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
              metadat = as.character(packageVersion("metadat")), control = tight,
              note = "generated by tests/reference/make_metafor_bias.R"),
  datasets = datasets,
  rma_methods = rma_methods,
  regression = regression,
  ranktest = ranktests,
  trimfill = trimfills,
  contours = contours
)
source("tests/reference/write_exact_json.R")
write_exact_json(out, "tests/reference/metafor_bias.json")
cat("wrote tests/reference/metafor_bias.json:", length(regression), "regression-test cases,",
    length(ranktests), "rank-test cases,", length(trimfills), "trim-and-fill cases,",
    length(contours), "contour cases\n")
