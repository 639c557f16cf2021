# Reference values for hipacu.binary (Mantel-Haenszel and Peto pooling of 2x2 tables), from metafor.
#
# Run from the repository root (needs Debian's r-base-core r-cran-metafor r-cran-metadat
# r-cran-jsonlite):
#     Rscript tests/reference/make_metafor_binary.R
# Writes tests/reference/metafor_binary.json (every double at 17 significant digits). CI does not
# need R: the JSON is committed and tests/test_binary.py compares hipacu against it.
#
# metafor calls, with their default zero-cell arguments (add = c(1/2, 0), to = c("only0", "none"),
# drop00 = c(TRUE, FALSE)):
#   rma.mh(ai = events1, n1i = total1, ci = events2, n2i = total2, measure = "RR" / "OR" / "RD")
#   rma.peto(ai = events1, n1i = total1, ci = events2, n2i = total2)
# Both are closed-form (no iteration), so no control settings are needed.

suppressMessages({
  library(metafor)
  library(jsonlite)
})

num <- function(x) unname(as.numeric(x))
nul <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else num(x)

b <- dat.bcg
y6 <- dat.yusuf1985[dat.yusuf1985$table == "6" & !is.na(dat.yusuf1985$ai), ]
co <- dat.collins1985b
ni <- dat.nielweise2007
datasets <- list(
  bcg = list(events1 = b$tpos, total1 = b$tpos + b$tneg, events2 = b$cpos, total2 = b$cpos + b$cneg),
  nielweise2007 = list(events1 = ni$ai, total1 = ni$n1i, events2 = ni$ci, total2 = ni$n2i),  # zeros, one double-zero table
  yusuf1985_table6 = list(events1 = y6$ai, total1 = y6$n1i, events2 = y6$ci, total2 = y6$n2i),  # three double-zero tables
  collins1985b = list(events1 = co$pre.xti, total1 = co$pre.nti, events2 = co$pre.xci, total2 = co$pre.nci),
  # constructed: single zero cells in either arm, a double-zero table (3) and a double-all table (4)
  zeros = list(events1 = c(0, 3, 0, 12, 5, 2, 7), total1 = c(20, 25, 15, 12, 30, 18, 40),
               events2 = c(2, 0, 0, 14, 9, 4, 11), total2 = c(22, 24, 16, 14, 31, 20, 38)),
  # edge cases
  edge_k1 = list(events1 = 4, total1 = 50, events2 = 9, total2 = 48),
  edge_k2 = list(events1 = c(4, 10), total1 = c(50, 100), events2 = c(9, 12), total2 = c(48, 105)),
  edge_one_informative = list(events1 = c(0, 6, 0), total1 = c(30, 40, 25), events2 = c(0, 11, 0), total2 = c(28, 41, 27))
)

mh_case <- function(name, d, measure, level) {
  r <- rma.mh(ai = d$events1, n1i = d$total1, ci = d$events2, n2i = d$total2, measure = measure,
              level = level * 100)
  list(
    id = paste(name, measure, level, sep = "/"), dataset = name, fun = "mantel_haenszel", measure = measure,
    level = level, data = d,
    expected = list(estimate = num(r$beta), se = num(r$se), ci_low = num(r$ci.lb), ci_high = num(r$ci.ub),
                    statistic = num(r$zval), pval = num(r$pval), q = num(r$QE), q_pval = num(r$QEp),
                    i2 = num(r$I2), h2 = num(r$H2), k = num(r$k), k_q = num(r$k.yi),
                    cmh = nul(r$MH), cmh_pval = nul(r$MHp), tarone = nul(r$TA), tarone_pval = nul(r$TAp))
  )
}
peto_case <- function(name, d, level) {
  r <- rma.peto(ai = d$events1, n1i = d$total1, ci = d$events2, n2i = d$total2, level = level * 100)
  list(
    id = paste(name, "PETO", level, sep = "/"), dataset = name, fun = "peto", measure = "OR", level = level,
    data = d,
    expected = list(estimate = num(r$beta), se = num(r$se), ci_low = num(r$ci.lb), ci_high = num(r$ci.ub),
                    statistic = num(r$zval), pval = num(r$pval), q = num(r$QE), q_pval = num(r$QEp),
                    i2 = num(r$I2), h2 = num(r$H2), k = num(r$k), k_q = num(r$k.yi))
  )
}

cases <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  for (m in c("RR", "OR", "RD")) cases[[length(cases) + 1]] <- suppressWarnings(mh_case(name, d, m, 0.95))
  cases[[length(cases) + 1]] <- suppressWarnings(peto_case(name, d, 0.95))
}
# one other confidence level
for (m in c("RR", "OR", "RD")) cases[[length(cases) + 1]] <- suppressWarnings(mh_case("bcg", datasets$bcg, m, 0.90))
cases[[length(cases) + 1]] <- suppressWarnings(peto_case("bcg", datasets$bcg, 0.90))

# ---------------------------------------------------------------- where metafor gives NA or stops
errors <- list()
add_error <- function(id, fun, d, measure, what) {
  out <- try(suppressWarnings(
    if (fun == "peto") rma.peto(ai = d$events1, n1i = d$total1, ci = d$events2, n2i = d$total2)
    else rma.mh(ai = d$events1, n1i = d$total1, ci = d$events2, n2i = d$total2, measure = measure)), silent = TRUE)
  errors[[length(errors) + 1]] <<- list(
    id = id, fun = fun, measure = measure, what = what, data = d,
    metafor = if (inherits(out, "try-error")) "error" else if (is.na(out$beta) || is.na(out$zval)) "NA" else "value",
    message = if (inherits(out, "try-error")) trimws(as.character(out)) else ""
  )
}
no_events_arm1 <- list(events1 = c(0, 0, 0), total1 = c(10, 12, 9), events2 = c(1, 3, 2), total2 = c(11, 12, 10))
no_events <- list(events1 = c(0, 0), total1 = c(10, 12), events2 = c(0, 0), total2 = c(11, 12))
add_error("RR_no_events_arm1", "mantel_haenszel", no_events_arm1, "RR", "no events in arm 1 of any table")
add_error("OR_no_events_arm1", "mantel_haenszel", no_events_arm1, "OR", "sum of a*d/N is 0")
add_error("RD_no_events", "mantel_haenszel", no_events, "RD", "no events at all: zero variance")
add_error("PETO_no_events", "peto", no_events, "OR", "no events at all: sum of V is 0")

out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
              metadat = as.character(packageVersion("metadat")),
              defaults = "add = c(1/2, 0), to = c('only0', 'none'), drop00 = c(TRUE, FALSE)",
              note = "generated by tests/reference/make_metafor_binary.R"),
  datasets = names(datasets),
  cases = cases,
  errors = errors
)
source("tests/reference/write_exact_json.R")
write_exact_json(out, "tests/reference/metafor_binary.json")
cat("wrote tests/reference/metafor_binary.json:", length(cases), "cases,", length(errors), "error cases\n")
