# Reference values for hipacu's numerical core, computed with metafor.
#
# Run from the repository root (needs Debian's r-base-core r-cran-metafor r-cran-metadat
# r-cran-jsonlite):
#     Rscript tests/reference/make_metafor_fixtures.R
# Writes tests/reference/metafor_core.json (17 significant digits). CI does not need R: the
# JSON is committed and tests/test_metafor_core.py compares hipacu against it.
#
# The iterative estimators are run with tight convergence controls so that both programs
# report the converged value rather than their default stopping points (metafor's default
# threshold is 1e-5; hipacu iterates to 1e-12 relative).

suppressMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-14, maxiter = 10000, tol = 1e-14, stepadj = 1)
methods <- c("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "EB", "HE")

num <- function(x) unname(as.numeric(x))

# ---------------------------------------------------------------- data sets for pooling
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
normand <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                  data = dat.normand1999)
normand_md <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                     data = dat.normand1999)
raud <- dat.raudenbush1985
niel <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.nielweise2007)
hart <- escalc("IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = dat.hart1999)

datasets <- list(
  bcg_logrr = list(yi = num(bcg$yi), vi = num(bcg$vi)),
  normand_smd = list(yi = num(normand$yi), vi = num(normand$vi)),
  normand_md = list(yi = num(normand_md$yi), vi = num(normand_md$vi)),
  raudenbush = list(yi = num(raud$yi), vi = num(raud$vi)),
  nielweise_logor = list(yi = num(niel$yi), vi = num(niel$vi)),
  hart_logirr = list(yi = num(hart$yi), vi = num(hart$vi)),
  # edge cases
  edge_k1 = list(yi = 0.5, vi = 0.1),
  edge_k2 = list(yi = c(0.2, 0.9), vi = c(0.04, 0.09)),
  edge_k2_homogeneous = list(yi = c(0.30, 0.32), vi = c(0.04, 0.09)),
  edge_identical = list(yi = c(0.1, 0.1, 0.1, 0.1), vi = c(0.1, 0.2, 0.3, 0.05)),
  edge_huge_variance = list(yi = c(0.1, 0.4, -0.2, 0.3, 5.0), vi = c(0.02, 0.03, 0.05, 0.04, 1e6))
)

pool_case <- function(name, d, method, knha) {
  # tightest threshold that the iteration reaches (an absolute 1e-14 is below double precision
  # for a tau^2 in the hundreds)
  for (thr in c(1e-14, 1e-12, 1e-10)) {
    ctl <- modifyList(tight, list(threshold = thr))
    res <- try(suppressWarnings(rma(yi = d$yi, vi = d$vi, method = method,
                                    test = if (knha) "knha" else "z", control = ctl)), silent = TRUE)
    if (!inherits(res, "try-error")) break
  }
  if (inherits(res, "try-error")) stop(paste("metafor failed on", name, method))
  pr <- predict(res)
  list(
    id = paste(name, method, if (knha) "knha" else "z", sep = "/"),
    dataset = name, method = method, knha = knha, threshold = thr,
    yi = d$yi, vi = d$vi,
    expected = list(
      k = res$k, estimate = num(res$b), se = num(res$se),
      ci_low = num(res$ci.lb), ci_high = num(res$ci.ub),
      statistic = num(res$zval), pval = num(res$pval),
      tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2),
      q = num(res$QE), q_pval = num(res$QEp),
      pi_low = num(pr$pi.lb), pi_high = num(pr$pi.ub),
      weights = num(weights(res))
    )
  )
}

pooling <- list()
for (name in names(datasets)) for (m in methods) for (knha in c(FALSE, TRUE)) {
  pooling[[length(pooling) + 1]] <- pool_case(name, datasets[[name]], m, knha)
}

# ---------------------------------------------------------------- Q-profile intervals
qprofile <- list()
for (name in setdiff(names(datasets), "edge_k1")) for (level in c(0.95, 0.90)) {
  d <- datasets[[name]]
  res <- rma(yi = d$yi, vi = d$vi, method = "DL")  # the Q-profile CI does not depend on the tau2 estimator
  ci <- confint(res, level = level * 100, control = list(tol = .Machine$double.eps, maxiter = 10000,
                                                        tau2.max = 1e6))
  r <- ci$random
  qprofile[[length(qprofile) + 1]] <- list(
    id = paste(name, level, sep = "/"), dataset = name, level = level,
    yi = d$yi, vi = d$vi,
    expected = list(tau2_low = r["tau^2", "ci.lb"], tau2_high = r["tau^2", "ci.ub"],
                    i2_low = r["I^2(%)", "ci.lb"], i2_high = r["I^2(%)", "ci.ub"],
                    h2_low = r["H^2", "ci.lb"], h2_high = r["H^2", "ci.ub"])
  )
}

# ---------------------------------------------------------------- effect sizes
es <- list()
add_es <- function(id, fun, args, res, options = setNames(list(), character(0))) {
  es[[length(es) + 1]] <<- list(id = id, fun = fun, args = args, options = options,
                                 yi = num(res$yi), vi = num(res$vi))
}
nd <- dat.normand1999
cont <- list(mean1 = nd$m1i, sd1 = nd$sd1i, n1 = nd$n1i, mean2 = nd$m2i, sd2 = nd$sd2i, n2 = nd$n2i)
add_es("normand/SMD", "smd", cont, normand)
add_es("normand/MD", "mean_difference", cont, normand_md)
add_es("normand/ROM", "log_ratio_of_means", cont,
       escalc("ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = nd))
# small-sample SMD (the gamma-function correction matters most at n = 2..5)
small <- list(mean1 = c(1.2, 3.0, 10.5), sd1 = c(0.5, 1.1, 2.0), n1 = c(2, 3, 5),
              mean2 = c(0.7, 2.1, 12.0), sd2 = c(0.6, 0.9, 2.5), n2 = c(2, 4, 6))
add_es("small/SMD", "smd", small, escalc("SMD", m1i = small$mean1, sd1i = small$sd1, n1i = small$n1,
                                         m2i = small$mean2, sd2i = small$sd2, n2i = small$n2))

b <- dat.bcg
bin_bcg <- list(events1 = b$tpos, total1 = b$tpos + b$tneg, events2 = b$cpos, total2 = b$cpos + b$cneg)
# zero cells: one zero in arm 1, one in arm 2, a double-zero table, and an all-events arm
zc <- list(events1 = c(0, 3, 0, 12, 5), total1 = c(20, 25, 15, 12, 30),
           events2 = c(2, 0, 0, 8, 9), total2 = c(22, 24, 16, 14, 31))
ni <- dat.nielweise2007
bin_niel <- list(events1 = ni$ai, total1 = ni$n1i, events2 = ni$ci, total2 = ni$n2i)
for (m in c("RR", "OR", "RD")) {
  fun <- c(RR = "log_risk_ratio", OR = "log_odds_ratio", RD = "risk_difference")[[m]]
  add_es(paste0("bcg/", m), fun, bin_bcg,
         escalc(m, ai = bin_bcg$events1, n1i = bin_bcg$total1, ci = bin_bcg$events2, n2i = bin_bcg$total2))
  add_es(paste0("nielweise/", m), fun, bin_niel,
         escalc(m, ai = bin_niel$events1, n1i = bin_niel$total1, ci = bin_niel$events2, n2i = bin_niel$total2))
  for (to in c("only0", "all", "if0all")) for (add in c(0.5, 0.25)) {
    add_es(paste0("zerocells/", m, "/", to, "/", add), fun, zc,
           escalc(m, ai = zc$events1, n1i = zc$total1, ci = zc$events2, n2i = zc$total2,
                  add = add, to = to, drop00 = FALSE),
           options = list(add = add, to = to))
  }
}
pr <- dat.pritz1997
add_es("pritz/PLO", "logit_proportion", list(events = pr$xi, total = pr$ni), escalc("PLO", xi = xi, ni = ni, data = pr))
plz <- list(events = c(0, 4, 10, 7), total = c(12, 30, 10, 40))
for (to in c("only0", "all", "if0all")) {
  add_es(paste0("prop_zero/PLO/", to), "logit_proportion", plz,
         escalc("PLO", xi = plz$events, ni = plz$total, add = 0.5, to = to), options = list(add = 0.5, to = to))
}
h <- dat.hart1999
add_es("hart/IRLN", "log_incidence_rate", list(events = h$x1i, exposure = h$t1i),
       escalc("IRLN", xi = h$x1i, ti = h$t1i))
irz <- list(events = c(0, 3, 12), exposure = c(100, 250, 400))
add_es("rate_zero/IRLN", "log_incidence_rate", irz, escalc("IRLN", xi = irz$events, ti = irz$exposure))

out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
              metadat = as.character(packageVersion("metadat")),
              control = tight,
              note = "generated by tests/reference/make_metafor_fixtures.R"),
  methods = methods,
  datasets = names(datasets),
  pooling = pooling,
  qprofile = qprofile,
  effects = es
)
source("tests/reference/write_exact_json.R")
write_exact_json(out, "tests/reference/metafor_core.json")
cat("wrote tests/reference/metafor_core.json:", length(pooling), "pooling cases,",
    length(qprofile), "Q-profile cases,", length(es), "effect-size cases\n")
