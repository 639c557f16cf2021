# Shared by the make_metafor_*.R scripts: write a fixture list as JSON with every double at
# 17 significant digits (jsonlite prints at most 15), Inf as Infinity, NA as null, an empty vector as [].
exact <- function(x) {
  if (is.list(x)) return(lapply(x, exact))
  if (is.double(x)) {
    if (length(x) == 0) return(structure("[]", class = "json"))
    s <- ifelse(is.na(x), "null", ifelse(is.infinite(x), ifelse(x > 0, "Infinity", "-Infinity"),
                                         sprintf("%.17g", x)))
    return(structure(if (length(x) == 1) s else paste0("[", paste(s, collapse = ","), "]"), class = "json"))
  }
  x
}

write_exact_json <- function(out, path) {
  writeLines(jsonlite::toJSON(exact(out), auto_unbox = TRUE, json_verbatim = TRUE, pretty = FALSE, null = "null"), path)
}
