# Reference values for hipacu.models.glmm (generalised linear mixed models), from metafor rma.glmm
# and lme4 glmer.
#
# Run from the repository root (needs Debian's r-base-core r-cran-metafor r-cran-metadat
# r-cran-jsonlite r-cran-lme4; numDeriv and minqa come with them):
#     Rscript tests/reference/make_glmm_fixtures.R
# Writes tests/reference/metafor_glmm.json (every double at 17 significant digits, the input data
# included). CI does not need R: the JSON is committed and tests/models/test_glmm.py compares hipacu
# against it.
#
# Every ML case is fitted twice:
#   "metafor"  rma.glmm with its defaults. glmer's second stage (nAGQ = 7, over theta and beta) uses
#              lme4's Nelder_Mead with FtolAbs = 1e-5 on the deviance, and its PIRLS solves the
#              conditional modes to tolPwrss = 1e-7, so these values are only accurate to ~1e-5 in
#              the parameters; they are what a metafor user sees.
#   "expected" the same rma.glmm call with the optimiser converged tightly (glmerCtrl: bobyqa with
#              rhoend = 1e-12, and tolPwrss = 1e-12, else 1e-11, else 1e-10, the first for which
#              PIRLS succeeds, recorded per case as tight_tolpwrss; CM.EL: integrate rel.tol = 1e-10 instead of 1.2e-4;
#              nlminb keeps its defaults, as tighter ones make it report false convergence for the
#              CM.EL common-effect fit). This is the maximum of the same likelihood, the value hipacu
#              is compared with.
# The conditional model CM.EL uses control = list(dnchgcalc = "dnoncenhypergeom"): metafor's own
# non-central hypergeometric density (Liao & Rosen 2001), so that BiasedUrn is not needed.
#
# metafor's logLik() means different things for different fits; the JSON records each of them:
#   ll_metafor      fitstats(res)["logLik", ] as metafor prints it
#   ll_marginal     the maximised (approximate) marginal log-likelihood with all constants:
#                   ll.QE + logLik(glmer) for nAGQ > 1 (lme4 reports the AGQ deviance relative to the
#                   saturated model), logLik(glmer) for the Laplace fits, logLik(glm) for glm fits,
#                   -nlminb objective for CM.EL
#   ll_conditional  sum of log f(y | conditional modes): sum(dbinom(..., fitted(glmer), log = TRUE))
#   deviance        lme4's objective at the optimum (-2 (ll_marginal - ll_saturated)), glmer fits only

suppressMessages({
  library(metafor)
  library(lme4)
  library(jsonlite)
})

num <- function(x) unname(as.numeric(x))
nul <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else num(x)

# PIRLS tolerances tried in turn (1e-12 makes PIRLS step-halving fail on the large BCG tables)
TIGHT_TOLPWRSS <- c(1e-12, 1e-11, 1e-10)
tight_glmer <- function(tol) list(optimizer = "bobyqa", tolPwrss = tol, optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
TIGHT_CMEL <- list(dnchgcalc = "dnoncenhypergeom", intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L))
DEFAULT_CMEL <- list(dnchgcalc = "dnoncenhypergeom")

# ------------------------------------------------------------------------------- data sets
pr <- dat.pritz1997
db <- dat.debruin2009
ha <- dat.hart1999
n8 <- dat.nielweise2008
n7 <- dat.nielweise2007
y6 <- dat.yusuf1985[dat.yusuf1985$table == "6" & !is.na(dat.yusuf1985$ai), ]
b <- dat.bcg

single <- list(  # one group per study: events/total (PLO) or events/exposure (IRLN)
  pritz1997 = list(measure = "PLO", events = pr$xi, total = pr$ni),                 # two studies with events == total
  pritz1997_poor = list(measure = "PLO", events = pr$ni - pr$xi, total = pr$ni),    # complement: two zero-event studies
  debruin2009 = list(measure = "PLO", events = db$xi, total = db$ni),
  plo_k1 = list(measure = "PLO", events = db$xi[1], total = db$ni[1]),
  plo_k2 = list(measure = "PLO", events = db$xi[1:2], total = db$ni[1:2]),
  hart1999_warfarin = list(measure = "IRLN", events = ha$x1i, exposure = ha$t1i),
  nielweise2008_arm2 = list(measure = "IRLN", events = n8$x2i, exposure = n8$t2i),
  # constructed: a zero-event study among rates
  irln_zeros = list(measure = "IRLN", events = c(0, 3, 7, 1, 12), exposure = c(150, 410, 380, 95, 620)),
  irln_k2 = list(measure = "IRLN", events = ha$x1i[1:2], exposure = ha$t1i[1:2])
)
two <- list(  # two groups per study
  nielweise2007 = list(measure = "OR", events1 = n7$ai, total1 = n7$n1i, events2 = n7$ci, total2 = n7$n2i),  # one double-zero study (15)
  yusuf1985_table6 = list(measure = "OR", events1 = y6$ai, total1 = y6$n1i, events2 = y6$ci, total2 = y6$n2i),  # three double-zero studies
  bcg = list(measure = "OR", events1 = b$tpos, total1 = b$tpos + b$tneg, events2 = b$cpos, total2 = b$cpos + b$cneg),
  # constructed: single zero cells, a double-zero table (3) and a table with all events in both arms (4)
  or_zeros = list(measure = "OR", events1 = c(0, 3, 0, 12, 5, 2, 7), total1 = c(20, 25, 15, 12, 30, 18, 40),
                  events2 = c(2, 0, 0, 14, 9, 4, 11), total2 = c(22, 24, 16, 14, 31, 20, 38)),
  or_k1 = list(measure = "OR", events1 = n7$ai[5], total1 = n7$n1i[5], events2 = n7$ci[5], total2 = n7$n2i[5]),
  or_k2 = list(measure = "OR", events1 = n7$ai[13:14], total1 = n7$n1i[13:14], events2 = n7$ci[13:14], total2 = n7$n2i[13:14]),
  nielweise2008 = list(measure = "IRR", events1 = n8$x1i, exposure1 = n8$t1i, events2 = n8$x2i, exposure2 = n8$t2i),
  hart1999 = list(measure = "IRR", events1 = ha$x1i, exposure1 = ha$t1i, events2 = ha$x2i, exposure2 = ha$t2i),
  # constructed: a double-zero study (2) and a single zero (4)
  irr_zeros = list(measure = "IRR", events1 = c(4, 0, 9, 0, 6), exposure1 = c(300, 120, 510, 200, 330),
                   events2 = c(8, 0, 14, 3, 5), exposure2 = c(290, 130, 490, 210, 350))
)

fit <- function(d, model, method, control, level = 0.95) {
  m <- d$measure
  args <- list(measure = m, model = model, method = method, control = control, retfit = TRUE, level = 100 * level)
  if (m == "PLO") args <- c(args, list(xi = d$events, ni = d$total))
  if (m == "IRLN") args <- c(args, list(xi = d$events, ti = d$exposure))
  if (m == "OR") args <- c(args, list(ai = d$events1, n1i = d$total1, ci = d$events2, n2i = d$total2))
  if (m == "IRR") args <- c(args, list(x1i = d$events1, t1i = d$exposure1, x2i = d$events2, t2i = d$exposure2))
  suppressWarnings(do.call(rma.glmm, args))
}

# dbinom/dpois log-likelihood of the glmer response at its fitted values (conditional modes)
cond_ll <- function(g) {
  y <- g@resp$y
  w <- g@resp$weights
  mu <- g@resp$mu
  if (family(g)$family == "binomial") sum(dbinom(round(y * w), round(w), mu, log = TRUE)) else sum(dpois(y, mu, log = TRUE))
}

summarise <- function(r, model, method) {
  p <- predict(r)
  lls <- marginal_ll(r, model, method)
  list(
    estimate = num(r$beta[1]), se = num(r$se[1]), statistic = num(r$zval[1]), pval = num(r$pval[1]),
    ci_low = num(r$ci.lb[1]), ci_high = num(r$ci.ub[1]), tau2 = num(r$tau2), sigma2 = nul(r$sigma2),
    i2 = num(r$I2), h2 = num(r$H2), vt = num(r$vt), pi_low = num(if (is.null(p$pi.lb)) p$ci.lb else p$pi.lb),
    pi_high = num(if (is.null(p$pi.ub)) p$ci.ub else p$pi.ub), k = num(r$k),
    qe_lrt = nul(r$QE.LRT), qe_lrt_pval = nul(r$QEp.LRT),
    ll_metafor = num(fitstats(r)[1, 1]), ll_marginal = lls$marginal, ll_conditional = lls$conditional,
    deviance = lls$deviance
  )
}

marginal_ll <- function(r, model, method) {
  ml <- method == "ML"
  g <- if (ml) r$res.ML else r$res.FE
  na <- list(marginal = NA_real_, conditional = NA_real_, deviance = NA_real_)
  if (inherits(g, "glmerMod")) {
    nagq <- g@devcomp$dims[["nAGQ"]]
    dev <- -2 * num(logLik(g))
    if (nagq > 1) {
      # lme4's AGQ deviance is relative to the saturated model: add the saturated log-likelihood back
      sat <- saturated_ll(g)
      return(list(marginal = sat - dev / 2, conditional = cond_ll(g), deviance = dev))
    }
    return(list(marginal = num(logLik(g)), conditional = cond_ll(g), deviance = NA_real_))
  }
  if (inherits(g, "glm")) return(list(marginal = num(logLik(g)), conditional = num(logLik(g)), deviance = NA_real_))
  if (model == "CM.EL") return(list(marginal = num(fitstats(r)[1, 1]), conditional = NA_real_, deviance = NA_real_))  # nlminb fit
  na
}

saturated_ll <- function(g) {
  y <- g@resp$y
  w <- g@resp$weights
  if (family(g)$family == "binomial") sum(dbinom(round(y * w), round(w), y, log = TRUE)) else sum(dpois(y, y, log = TRUE))
}

models_for <- function(measure) switch(measure, PLO = "UM.FS", IRLN = "UM.FS", OR = c("UM.FS", "UM.RS", "CM.EL", "CM.AL"),
                                       IRR = c("UM.FS", "CM.EL"))

cases <- list()
errors <- list()
add_case <- function(name, d, model, method, level = 0.95) {
  id <- paste(name, d$measure, model, method, sep = "/")
  if (level != 0.95) id <- paste(id, level, sep = "/")
  nlminb_fit <- model == "CM.EL" && d$measure == "OR"  # IRR + CM.EL is a glmer fit (binomial, exact for rates)
  default <- if (nlminb_fit) DEFAULT_CMEL else list()
  t0 <- proc.time()[3]
  r_def <- try(fit(d, model, method, default, level), silent = TRUE)
  if (inherits(r_def, "try-error")) {
    errors[[length(errors) + 1]] <<- list(id = id, dataset = name, measure = d$measure, model = model, method = method,
                                          data = d[names(d) != "measure"], message = trimws(as.character(r_def)))
    cat(sprintf("%-45s metafor stops: %s\n", id, trimws(as.character(r_def))))
    return(invisible())
  }
  # common-effect fits other than UM.RS have no integral and no Nelder-Mead stage: nothing to tighten
  tolpwrss <- NA_real_
  source <- "tight"
  if (method == "EE" && model != "UM.RS") {
    r_tight <- r_def
  } else if (nlminb_fit) {
    r_tight <- try(fit(d, model, method, TIGHT_CMEL, level), silent = TRUE)
    if (inherits(r_tight, "try-error")) {
      # nlminb over log(tau^2) fails where the ML estimate of tau^2 is 0 (log tau^2 -> -Inf);
      # keep the default fit as the reference and say so
      cat(sprintf("%-45s tight refit failed (%s); default fit kept\n", id, trimws(as.character(r_tight))))
      r_tight <- r_def
      source <- "default"
    }
  } else {
    for (tolpwrss in TIGHT_TOLPWRSS) {
      r_tight <- try(fit(d, model, method, list(glmerCtrl = tight_glmer(tolpwrss)), level), silent = TRUE)
      if (!inherits(r_tight, "try-error")) break
    }
    if (inherits(r_tight, "try-error")) stop(id, ": no tight fit: ", r_tight)
  }
  dropped <- which(!r_def$not.na) - 1  # 0-based indices of the studies metafor left out
  cases[[length(cases) + 1]] <<- list(
    id = id, dataset = name, measure = d$measure, model = model, method = method, level = level,
    data = d[names(d) != "measure"], dropped = I(as.integer(dropped)),
    nagq = if (method == "ML" && model == "UM.RS") 1L else 7L, tight_tolpwrss = tolpwrss, expected_from = source,
    expected = summarise(r_tight, model, method), metafor = summarise(r_def, model, method)
  )
  cat(sprintf("%-45s est %.10f se %.8f tau2 %.8f  (%.1fs)\n", id, r_tight$beta[1], r_tight$se[1], r_tight$tau2,
              proc.time()[3] - t0))
}

for (name in names(single)) for (method in c("EE", "ML")) add_case(name, single[[name]], "UM.FS", method)
for (name in names(two)) {
  d <- two[[name]]
  for (model in models_for(d$measure)) for (method in c("EE", "ML")) {
    if (model == "CM.EL" && d$measure == "OR" && name == "bcg" && method == "ML") next  # see note below
    add_case(name, d, model, method)
  }
}
# other confidence levels
add_case("debruin2009", single$debruin2009, "UM.FS", "ML", 0.90)
add_case("nielweise2007", two$nielweise2007, "UM.FS", "EE", 0.90)
add_case("nielweise2007", two$nielweise2007, "UM.FS", "ML", 0.99)
# CM.EL + ML on bcg is left out: its largest table has 1004 events, and metafor's integrate() over the
# hypergeometric density for 13 tables inside nlminb and numDeriv takes several minutes.

# ------------------------------------------------------ exact intervals for a pooled rate
# binom.test (Clopper-Pearson) and poisson.test (Garwood) on the pooled counts; hipacu reports them
# on the logit / log scale, so the fixture does too.
exact_cases <- function() {
  res <- list()
  add <- function(id, kind, events, total, level) {
    x <- sum(events); n <- sum(total)
    if (kind == "binomial") {
      t <- binom.test(x, n, conf.level = level)
      tr <- qlogis
    } else {
      t <- poisson.test(x, n, conf.level = level)
      tr <- log
    }
    res[[length(res) + 1]] <<- list(
      id = id, kind = kind, level = level, data = list(events = events, total = total),
      expected = list(estimate = tr(num(t$estimate)), ci_low = tr(num(t$conf.int[1])), ci_high = tr(num(t$conf.int[2])),
                      pval = num(t$p.value), k = length(events)))
  }
  add("pritz1997/binomial/0.95", "binomial", pr$xi, pr$ni, 0.95)
  add("pritz1997/binomial/0.9", "binomial", pr$xi, pr$ni, 0.90)
  add("debruin2009/binomial/0.95", "binomial", db$xi, db$ni, 0.95)
  add("nielweise2007_arm1/binomial/0.95", "binomial", n7$ai, n7$n1i, 0.95)
  add("zero_events/binomial/0.95", "binomial", c(0, 0, 0), c(12, 30, 7), 0.95)
  add("all_events/binomial/0.95", "binomial", c(12, 30), c(12, 30), 0.95)
  add("hart1999_warfarin/poisson/0.95", "poisson", ha$x1i, ha$t1i, 0.95)
  add("nielweise2008_arm2/poisson/0.99", "poisson", n8$x2i, n8$t2i, 0.99)
  add("zero_events/poisson/0.95", "poisson", c(0, 0), c(120, 80), 0.95)
  add("one_study/poisson/0.95", "poisson", 3, 2.5, 0.95)
  res
}

out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
              lme4 = as.character(packageVersion("lme4")), metadat = as.character(packageVersion("metadat")),
              Matrix = as.character(packageVersion("Matrix")), numDeriv = as.character(packageVersion("numDeriv")),
              minqa = as.character(packageVersion("minqa")),
              defaults = "rma.glmm defaults: nAGQ = 7 (1 for UM.RS + ML), drop00 = TRUE, coding = 1/2, test = 'z', level = 95",
              tight_glmer = "glmerCtrl = list(optimizer = 'bobyqa', tolPwrss = <case tight_tolpwrss>, optCtrl = list(rhoend = 1e-12, maxfun = 1e6))",
              tight_cmel = "dnchgcalc = 'dnoncenhypergeom', intCtrl = list(rel.tol = 1e-10, subdivisions = 1000)",
              note = "generated by tests/reference/make_glmm_fixtures.R"),
  datasets = c(names(single), names(two)),
  cases = cases,
  errors = errors,
  exact = exact_cases()
)
source("tests/reference/write_exact_json.R")
write_exact_json(out, "tests/reference/metafor_glmm.json")
cat("wrote tests/reference/metafor_glmm.json:", length(cases), "cases,", length(errors), "error cases,",
    length(out$exact), "exact cases\n")
