// report.md from report.json: the paper's tables beside sgdlab's, with spread over seeds.
#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sgdlab/study/study.hpp"

namespace sgdlab {
namespace {

using json = nlohmann::json;

std::string pct(const json& v, int digits = 2) {
  if (v.is_null() || !v.is_number() || !std::isfinite(v.get<double>())) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << 100 * v.get<double>() << "%";
  return s.str();
}

std::string pct_pm(const json& m, const json& sd) {
  if (m.is_null()) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100 * m.get<double>() << " ± "
    << 100 * sd.get<double>() << "%";
  return s.str();
}

std::string num(const json& v, int precision = 4) {
  if (v.is_null() || !v.is_number() || !std::isfinite(v.get<double>())) return "–";
  std::ostringstream s;
  s << std::setprecision(precision) << v.get<double>();
  return s.str();
}

const json& at(const json& j, const std::string& key) {
  static const json null;
  return j.is_object() && j.contains(key) ? j.at(key) : null;
}

// The paper's own numbers (its Tables 1 and 2, its ensemble's test accuracy and the two
// correlations its text quotes), for the comparison columns.
const json kPaper = json::parse(R"({
  "table1": {"mlp": [0.9321, 0.9108, 0.9445, 0.9818], "lcnn": [0.9657, 0.9442, 0.9634, 0.9317],
             "cnn": [0.9877, 0.9586, 0.9870, 0.9631]},
  "table2": {"mlp": [2.02e-4, 0.1456, 0.0], "lcnn": [0.0314, 0.1175, 1.0799], "cnn": [0.0309, 0.7607, 1.0008]},
  "ensemble_test": 0.9631,
  "correlation": {"cnn_momentum": -0.559410, "mlp_dropout": -0.133966}
})");

// Entry i of one of the paper's rows; null (shown as "–") for a model the paper did not have.
json paper(const json& row, size_t i) {
  return row.is_array() && i < row.size() ? row[i] : json();
}

// Model name and its part of a per-model map.
using Models = std::vector<std::pair<std::string, json>>;

// A per-model map of the report in the study's model order: JSON objects sort their keys.
Models in_study_order(const json& cfg, const json& per_model) {
  Models out;
  for (const auto& name : cfg["models"]) {
    const std::string key = name.get<std::string>();
    if (per_model.is_object() && per_model.contains(key)) out.emplace_back(key, per_model[key]);
  }
  return out;
}

// The average of a per-epoch series over its finite values.
json finite_mean(const json& series) {
  double s = 0;
  int n = 0;
  for (const auto& v : series)
    if (v.is_number() && std::isfinite(v.get<double>())) {
      s += v.get<double>();
      ++n;
    }
  return n ? json(s / n) : json(nullptr);
}

void render_title(std::ostream& md, const json& r, const json& cfg) {
  md << "# sgdlab study report\n\n";
  md << "Reproduction of `study-paper.txt` on the USPS digits. Device: " << r.value("device", "?")
     << "; preset `" << cfg.value("preset", "?") << "`: " << cfg.value("coarse", 0) << " coarse + "
     << cfg.value("fine", 0) << " fine trials per model, " << cfg.value("epochs", 0)
     << " epoch(s) per run, " << cfg.value("seeds", 0)
     << " seeds for the final models. Whole study: " << num(at(r, "seconds"), 4)
     << " s (this run; resumed stages are not re-timed).\n\n";
}

// A trial's validation accuracy: its value under the default objective, an attribute
// beside the value under the others (and in studies made before objectives, the value).
json val_acc_of(const json& trial) {
  const json v = at(trial, "val_acc");
  return v.is_null() ? at(trial, "value") : v;
}

void render_accuracy_table(std::ostream& md, const json& cfg, const Models& models) {
  const std::string objective = cfg.value("objective", "val_acc");
  md << "## Table 1: validation and test accuracy\n\n"
     << "Coarse and fine: the best trial of each search by "
     << (objective == "val_acc" ? "validation accuracy" : "the objective " + objective)
     << " (one run each, as "
        "in the "
        "paper). Final: the better of the two on validation, retrained with "
     << cfg.value("seeds", 0)
     << " seeds, mean ± sample std. The paper's columns are its single runs; its \"MLP fine test "
        "98.18%\" "
        "is a slip: it is implausible beside the 94.45% fine validation and 91.08% coarse test "
        "accuracy it reports.\n\n";
  md << "| model | coarse val | coarse test | fine val | fine test | final from | final val | "
        "final test | "
        "paper coarse val / test | paper fine val / test "
        "|\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& [key, m] : models) {
    const json& p = at(at(kPaper, "table1"), key);
    md << "| " << key << " | " << pct(val_acc_of(at(m["coarse"], "best"))) << " | "
       << pct(at(at(m["coarse"], "best"), "test_acc")) << " | "
       << pct(val_acc_of(at(m["fine"], "best"))) << " | "
       << pct(at(at(m["fine"], "best"), "test_acc")) << " | "
       << at(m["final"], "source").get<std::string>() << " | "
       << pct_pm(at(m["final"], "val_mean"), at(m["final"], "val_std")) << " | "
       << pct_pm(at(m["final"], "test_mean"), at(m["final"], "test_std")) << " | "
       << pct(paper(p, 0)) << " / " << pct(paper(p, 1)) << " | " << pct(paper(p, 2)) << " / "
       << pct(paper(p, 3)) << " |\n";
  }
  md << "\nOn 2,007 test images one error is 0.05%, and the 95% interval around 97.5% accuracy is "
        "about ±0.7%.\n\n";
}

void render_narrowing(std::ostream& md, const Models& models) {
  md << "## Narrowed search intervals\n\nFrom the top 20% of the completed coarse trials: mean ± "
        "std "
        "(log space for the learning rate), clipped to the original bounds; the most frequent "
        "batch size.\n\n";
  md << "| model | top / trials | lr | momentum | dropout | batch |\n|---|---|---|---|---|---|\n";
  for (const auto& [key, m] : models) {
    const json& n = m["narrowing"];
    auto iv = [&](const char* k) {
      const json& v = at(at(n, "intervals"), k);
      return v.is_null() ? std::string("–")
                         : "(" + num(v["low"], 3) + ", " + num(v["high"], 3) + ")";
    };
    md << "| " << key << " | " << n.value("n_top", 0) << " / " << n.value("n_trials", 0) << " | "
       << iv("lr") << " | " << iv("momentum") << " | " << iv("dropout") << " | "
       << num(at(at(n, "mode"), "batch")) << " |\n";
  }
}

void render_final_params(std::ostream& md, const Models& models) {
  md << "\n## Final hyperparameters\n\n| model | from | lr | batch | momentum | dropout "
        "|\n|---|---|---|---|---|---|\n";
  for (const auto& [key, m] : models) {
    const json& p = m["final"]["params"];
    md << "| " << key << " | " << m["final"]["source"].get<std::string>() << " | " << num(p["lr"])
       << " | " << num(p["batch"]) << " | " << num(p["momentum"], 3) << " | "
       << num(p["dropout"], 3) << " |\n";
  }
}

void render_confusion(std::ostream& md, const json& cm) {
  md << "\nConfusion matrix of the ensemble (seed 0) on the test set, rows true, columns "
        "predicted:\n\n|   |";
  for (int c = 0; c < 10; ++c) md << " " << c << " |";
  md << "\n|---|";
  for (int c = 0; c < 10; ++c) md << "---|";
  md << "\n";
  for (int t = 0; t < 10; ++t) {
    md << "| **" << t << "** |";
    for (int c = 0; c < 10; ++c) md << " " << cm[t][c].get<int>() << " |";
    md << "\n";
  }
}

// The models the ensemble weighed, in its order (reports before it named them: the paper's).
std::vector<std::string> ensemble_models(const json& ens) {
  if (ens.contains("models")) return ens["models"].get<std::vector<std::string>>();
  return {"mlp", "cnn", "lcnn"};
}

void render_ensemble(std::ostream& md, const json& r, const json& cfg, const Models& models) {
  const json& ens = at(r, "ensemble");
  md << "\n## Ensemble\n\n";
  if (ens.is_null()) {
    md << "Needs at least two models.\n";
    return;
  }
  const std::vector<std::string> names = ensemble_models(ens);
  const bool paper_rule = ens.value("weights_rule", "paper") == "paper";
  md << "Weighted soft voting of the " << (paper_rule ? "three " : "")
     << "final models of each seed; " << cfg.value("ensemble_draws", 0)
     << (paper_rule ? " weight draws (MLP in (0, 0.2), LCNN in (0, 0.8), CNN = 1 − both)"
                    : " weight draws (the first equal, the others uniform on the simplex)")
     << ", chosen on the validation set and reported on the test set (the paper chose on the "
        "test set).";
  for (const auto& [key, m] : models)
    if (at(at(m["final"], "tta"), "used") == true)
      md << " The " << key << " votes with its test-time shifted probabilities.";
  md << "\n\n| | test accuracy |\n|---|---|\n";
  for (const auto& [key, m] : models)
    md << "| " << key << " alone | " << pct_pm(m["final"]["test_mean"], m["final"]["test_std"])
       << " |\n";
  md << "| ensemble | " << pct_pm(ens["test_mean"], ens["test_std"]) << " |\n";
  if (paper_rule)
    md << "| paper's ensemble | " << pct(kPaper["ensemble_test"])
       << " (weights ≈ 0, 0.98, ≈ 0) |\n";
  md << "\n| seed |";
  for (const auto& n : names) md << " w " << n << " |";
  md << " val | test |\n|---|";
  for (size_t i = 0; i < names.size(); ++i) md << "---|";
  md << "---|---|\n";
  for (const auto& s : ens["per_seed"]) {
    md << "| " << s["seed_index"] << " |";
    for (const auto& n : names) md << " " << num(at(s["weights"], n), 3) << " |";
    md << " " << pct(s["val_acc"]) << " | " << pct(s["test_acc"]) << " |\n";
  }
  render_confusion(md, r["ensemble_confusion"]);
}

void render_gradient_table(std::ostream& md, const json& cfg, const json& eff) {
  md << "\n## Table 2: average gradient magnitude by initialisation\n\n"
        "Each cell: mean absolute gradient over all parameters (and, in brackets, the gradient's "
        "L2 "
        "norm), averaged over the steps and epochs of a run with the final hyperparameters. The "
        "paper does "
        "not say which of the two its \"average gradient\" is. Slow: uniform(−0.001, 0.001); fast: "
        "uniform(10, 20) for the MLP, uniform(10,000, 20,000) for the CNN and LCNN. (diverged) "
        "marks a run "
        "whose loss turned NaN/Inf.\n\n";
  md << "| model | slow | Xavier | fast | test acc slow / Xavier / fast | paper slow | paper "
        "effective | paper fast |\n"
        "|---|---|---|---|---|---|---|---|\n";
  for (const auto& [model, result] : in_study_order(cfg, at(eff, "init"))) {
    const json& lanes = result["lanes"];
    const json& p = at(at(kPaper, "table2"), model);
    md << "| " << model;
    for (const auto& l : lanes)
      md << " | " << num(finite_mean(l["grad_mean_abs"])) << " ("
         << num(finite_mean(l["grad_l2"]), 3) << ")"
         << (l["diverged"].get<bool>() ? " (diverged)" : "");
    md << " | " << pct(lanes[0]["test_acc"], 1) << " / " << pct(lanes[1]["test_acc"], 1) << " / "
       << pct(lanes[2]["test_acc"], 1) << " | " << num(paper(p, 0)) << " | " << num(paper(p, 1))
       << " | " << num(paper(p, 2)) << " |\n";
  }
}

void render_correlations(std::ostream& md, const Models& models) {
  md << "\n## Correlation with validation accuracy over the coarse trials (Pearson r)\n\n"
        "| model | trials | log10 lr | momentum | dropout | log2 batch "
        "|\n|---|---|---|---|---|---|\n";
  for (const auto& [key, m] : models) {
    const json& c = m["correlations"];
    md << "| " << key << " | " << c["n"] << " | " << num(c["log10_lr"], 3) << " | "
       << num(c["momentum"], 3) << " | " << num(c["dropout"], 3) << " | " << num(c["log2_batch"], 3)
       << " |\n";
  }
  md << "\nThe paper: CNN momentum r = " << kPaper["correlation"]["cnn_momentum"]
     << ", MLP dropout r = " << kPaper["correlation"]["mlp_dropout"] << " (30 trials each).\n";
}

// One effect experiment's lanes, model by model; nothing where it did not run.
void render_effect_table(std::ostream& md, const json& cfg, const json& eff, const std::string& key,
                         const std::string& title, const std::string& what) {
  const json& e = at(eff, key);
  if (e.is_null()) return;
  md << "\n## " << title << "\n\n"
     << what << "\n\n| model | run | first-epoch train loss | last-epoch train loss | "
     << "mean abs gradient, first / last epoch | test acc | diverged "
        "|\n|---|---|---|---|---|---|---|\n";
  for (const auto& [model, result] : in_study_order(cfg, e))
    for (const auto& l : result["lanes"]) {
      const json& loss = l["train_loss"];
      const json& g = l["grad_mean_abs"];
      md << "| " << model << " | " << l["label"].get<std::string>() << " | " << num(loss.front())
         << " | " << num(loss.back()) << " | " << num(g.front(), 3) << " / " << num(g.back(), 3)
         << " | " << pct(l["test_acc"]) << " | "
         << (l["diverged"].get<bool>() ? "epoch " + std::to_string(l["diverged_epoch"].get<int>())
                                       : "no")
         << " |\n";
    }
}

void render_effects(std::ostream& md, const json& cfg, const json& eff) {
  render_effect_table(md, cfg, eff, "lr_scaling", "Learning-rate scaling",
                      "The tuned learning rate times 0.01, 1, 10 and 100.");
  render_effect_table(md, cfg, eff, "batch", "CNN batch size 8 vs 32",
                      "Other hyperparameters as tuned.");
  render_effect_table(md, cfg, eff, "momentum", "CNN momentum",
                      "Momentum 0.5, the tuned value, and 0.99.");
  render_effect_table(md, cfg, eff, "dropout", "MLP dropout",
                      "Dropout 0.1, the tuned value, and 0.99.");
}

void render_wall_time(std::ostream& md, const json& r, const json& eff, const Models& models) {
  md << "\n## Wall time\n\nSeconds per stage on " << r.value("device", "?")
     << ", added up over the runs that worked on it.\n\n| model | coarse search | fine search | "
        "final seeds | effect experiments |\n|---|---|---|---|---|\n";
  for (const auto& [key, m] : models) {
    double effects = 0;
    bool any = false;
    for (const auto& [name, per_model] : eff.items())
      if (per_model.contains(key) && per_model[key].contains("seconds")) {
        effects += per_model[key]["seconds"].get<double>();
        any = true;
      }
    md << "| " << key << " | " << num(at(m["coarse"], "seconds")) << " | "
       << num(at(m["fine"], "seconds")) << " | " << num(at(m["final"], "seconds")) << " | "
       << (any ? num(json(effects)) : "–") << " |\n";
  }
  md << "\nThis run of `sgdlab study`: " << num(at(r, "seconds")) << " s.\n";
}

// A model's name in figure files, as tools/figures.py writes them: a model file's stem.
std::string figure_name(const std::string& model) {
  const std::string base = model.substr(model.find_last_of('/') + 1);
  const std::string ext = ".json";
  return base.size() > ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0
             ? base.substr(0, base.size() - ext.size())
             : base;
}

void render_figures(std::ostream& md, const json& r, const Models& models) {
  md << "\n## Figures\n\n";
  std::vector<std::string> files;
  for (const auto& [key, m] : models) files.push_back("kde_" + figure_name(key));
  files.push_back("history");
  // An effect's figure where the experiment ran (tools/figures.py draws no other).
  const std::pair<const char*, const char*> effects[] = {{"lr_scaling", "lr_scaling"},
                                                         {"batch", "batch_gradients"},
                                                         {"momentum", "momentum_gradients"},
                                                         {"dropout", "dropout_loss"}};
  for (const auto& [experiment, figure] : effects)
    if (!at(at(r, "effects"), experiment).is_null()) files.push_back(figure);
  if (!at(r, "ensemble").is_null())
    for (const char* f : {"ensemble_confusion", "misclassified"}) files.push_back(f);
  for (const auto& f : files) md << "![" << f << "](figures/" << f << ".png)\n\n";
  md << "Figures are made by `tools/figures.py` (matplotlib); when it could not run during the "
        "study, make "
        "them with `python3 tools/figures.py DIR`.\n";
}

// Each final model with test-time shifts (engine/tta.hpp): validation errors over its
// seeds without and with them, which decide whether the ensemble uses them, and the test
// accuracy they give.
void render_tta(std::ostream& md, const Models& models) {
  const json* first = nullptr;
  for (const auto& [key, m] : models)
    if (!first && at(m["final"], "tta").is_object()) first = &m["final"]["tta"];
  if (!first) return;
  md << "Test-time shifts: each image and its copies moved " << (*first)["shift"]
     << " pixel(s) right, left, down and up, the probabilities averaged. "
     << "The ensemble uses them for a model when they make fewer validation errors over its "
        "seeds.\n\n"
     << "| model | validation errors per seed, plain → shifted | used | test, shifted |\n"
     << "|---|---|---|---|\n";
  for (const auto& [key, m] : models) {
    const json& t = at(m["final"], "tta");
    if (!t.is_object()) continue;
    md << "| " << key << " | " << t["val_errors_plain"].dump() << " → " << t["val_errors"].dump()
       << " | " << (t.value("used", false) ? "yes" : "no") << " | "
       << pct_pm(t["test_mean"], t["test_std"]) << " |\n";
  }
  md << "\n";
}

void render_final_commands(std::ostream& md, const Models& models) {
  md << "The final models again, with plain `sgdlab train` (bit for bit on the CPU):\n\n```sh\n";
  for (const auto& [key, m] : models)
    if (at(m["final"], "command").is_string())
      md << at(m["final"], "command").get<std::string>() << "\n";
  md << "```\n\n";
}

// The beyond preset beside the paper and, when the study was given one, a paper-preset
// study's final figures; then the all-seeds ensemble and the commands that train the
// final models again.
void render_beyond(std::ostream& md, const json& r, const Models& models) {
  const json& base = at(r, "baseline");
  md << "## Table 1 beside the paper and the `paper` preset\n\nFinal models: test accuracy, "
        "mean ± sample std over the seeds; everything chosen on validation.\n\n"
     << "| model | the paper (fine test, one run) | `paper` preset | `beyond` preset |\n"
     << "|---|---|---|---|\n";
  for (const auto& [key, m] : models) {
    const json& b = at(at(base, "models"), key);
    md << "| " << key << " | " << pct(paper(at(at(kPaper, "table1"), key), 3)) << " | "
       << pct_pm(at(b, "test_mean"), at(b, "test_std")) << " | "
       << pct_pm(at(m["final"], "test_mean"), at(m["final"], "test_std")) << " |\n";
  }
  const json& e = at(r, "ensemble");
  md << "| ensemble (per seed) | " << pct(kPaper["ensemble_test"]) << " | "
     << pct_pm(at(at(base, "ensemble"), "test_mean"), at(at(base, "ensemble"), "test_std")) << " | "
     << pct_pm(at(e, "test_mean"), at(e, "test_std")) << " |\n"
     << "| ensemble of every seed's model | | | " << pct(at(at(e, "all_seeds"), "test_acc"))
     << " (validation " << pct(at(at(e, "all_seeds"), "val_acc")) << ") |\n\n";
  render_tta(md, models);
  render_final_commands(md, models);
}

// The best published test errors on this split (issue #23's survey), for the record.
struct Published {
  const char* result;
  const char* error;
  const char* source;
};
const Published kPublished[] = {
    {"tangent vectors and local representations", "2.0%",
     "Keysers et al., ~2002 (stated there as the best published)"},
    {"tangent distance, kernel densities, virtual test samples", "2.2%",
     "Keysers et al., ICPR 2000"},
    {"human", "2.37% / 2.5%", "Chaaban & Scheessele; Bromley & Säckinger 1991"},
    {"tangent distance; boosted LeNet (both with extra machine-printed training digits)",
     "2.5% / 2.6%", "Simard et al. 1993; Drucker et al. 1993"},
    {"LeNet", "5.0%", "LeCun et al. 1989"}};

std::string error_pm(const json& acc_mean, const json& acc_std) {
  if (!acc_mean.is_number()) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100 * (1 - acc_mean.get<double>()) << "%";
  if (acc_std.is_number()) s << " ± " << 100 * acc_std.get<double>() << "%";
  return s.str();
}

// The record preset: its architectures and ensembles beside the best published results
// on the standard split, then the test-time shifts and the final commands.
void render_record(std::ostream& md, const json& r, const Models& models) {
  md << "## The record: test error beside the best published results\n\n"
        "The standard split: 7,291 training images (of which the validation split), 2,007 test "
        "images. Every choice here (hyperparameters, architecture weights in the ensemble, "
        "test-time shifts) was made on validation; the test set is read only for this "
        "report. One test image is 0.05%. Final models: mean ± sample std over the seeds.\n\n"
        "| result | test error | source |\n|---|---|---|\n";
  for (const auto& p : kPublished)
    md << "| " << p.result << " | " << p.error << " | " << p.source << " |\n";
  const std::string* best = nullptr;
  double best_val = -1;
  for (const auto& [key, m] : models) {
    const json& f = m["final"];
    md << "| sgdlab `record`: " << key << ", one network | "
       << error_pm(at(f, "test_mean"), at(f, "test_std")) << " | this study |\n";
    if (at(f, "val_mean").is_number() && f["val_mean"].get<double>() > best_val) {
      best_val = f["val_mean"].get<double>();
      best = &key;
    }
  }
  const json& e = at(r, "ensemble");
  if (e.is_object()) {
    md << "| sgdlab `record`: ensemble of the architectures, per seed | "
       << error_pm(at(e, "test_mean"), at(e, "test_std")) << " | this study |\n"
       << "| sgdlab `record`: ensemble of every final model | "
       << error_pm(at(at(e, "all_seeds"), "test_acc"), json()) << " | this study |\n";
  }
  md << "\n";
  if (best) md << "Best architecture on validation: " << *best << ".\n\n";
  md << "Sources, as the survey in issue #23 lists them: Keysers et al. (~2002, and ICPR "
        "2000); Chaaban & Scheessele; Bromley & Säckinger 1991; Simard et al. 1993; Drucker et "
        "al. 1993; LeCun et al. 1989. Results quoted for \"USPS\" at 1.3–1.6% use test sets made "
        "from MNIST, not this one.\n\n";
  render_tta(md, models);
  render_final_commands(md, models);
}

}  // namespace

std::string render_report_markdown(const json& r) {
  std::ostringstream md;
  const json& cfg = r.at("config");
  const json& eff = at(r, "effects");
  render_title(md, r, cfg);
  const Models models = in_study_order(cfg, at(r, "models"));
  render_accuracy_table(md, cfg, models);
  if (cfg.value("preset", "") == "beyond") render_beyond(md, r, models);
  if (cfg.value("preset", "") == "record") render_record(md, r, models);
  render_narrowing(md, models);
  render_final_params(md, models);
  render_ensemble(md, r, cfg, models);
  if (!eff.is_null()) render_gradient_table(md, cfg, eff);
  render_correlations(md, models);
  if (!eff.is_null()) render_effects(md, cfg, eff);
  render_wall_time(md, r, eff, models);
  render_figures(md, r, models);
  return md.str();
}

}  // namespace sgdlab
