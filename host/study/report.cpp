// report.md from report.json: the paper's tables beside sgdlab's, with spread over seeds.
#include <cmath>
#include <iomanip>
#include <sstream>

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

// The paper's own numbers (study-paper.txt), for the comparison columns.
const json kPaper = json::parse(R"({
  "table1": {"mlp": [0.9321, 0.9108, 0.9445, 0.9818], "lcnn": [0.9657, 0.9442, 0.9634, 0.9317],
             "cnn": [0.9877, 0.9586, 0.9870, 0.9631]},
  "table2": {"mlp": [2.02e-4, 0.1456, 0.0], "lcnn": [0.0314, 0.1175, 1.0799], "cnn": [0.0309, 0.7607, 1.0008]},
  "ensemble_test": 0.9631,
  "correlation": {"cnn_momentum": -0.559410, "mlp_dropout": -0.133966}
})");

}  // namespace

std::string render_report_markdown(const json& r) {
  std::ostringstream md;
  const json& cfg = r.at("config");
  md << "# sgdlab study report\n\n";
  md << "Reproduction of `study-paper.txt` on the USPS digits. Device: " << r.value("device", "?")
     << "; preset `" << cfg.value("preset", "?") << "`: " << cfg.value("coarse", 0) << " coarse + "
     << cfg.value("fine", 0) << " fine trials per model, " << cfg.value("epochs", 0)
     << " epoch(s) per run, " << cfg.value("seeds", 0)
     << " seeds for the final models. Whole study: " << num(at(r, "seconds"), 4)
     << " s (this run; resumed stages are not re-timed).\n\n";

  // JSON objects sort their keys: walk the models in the study's order instead.
  json models = json::array();
  for (const auto& name : cfg["models"])
    if (at(r, "models").contains(name.get<std::string>()))
      models.push_back({{"key", name}, {"value", r["models"][name.get<std::string>()]}});
  md << "## Table 1: validation and test accuracy\n\n"
     << "Coarse and fine: the best trial of each search by validation accuracy (one run each, as "
        "in the "
        "paper). Final: the better of the two on validation, retrained with "
     << cfg.value("seeds", 0)
     << " seeds, mean ± sample std. The paper's columns are its single runs; its \"MLP fine test "
        "98.18%\" "
        "is a slip (see study-notes.md).\n\n";
  md << "| model | coarse val | coarse test | fine val | fine test | final from | final val | "
        "final test | "
        "paper coarse val / test | paper fine val / test "
        "|\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& entry : models) {
    const json& m = entry["value"];
    const std::string key = entry["key"];
    const json& p = kPaper["table1"][key];
    md << "| " << key << " | " << pct(at(at(m["coarse"], "best"), "value")) << " | "
       << pct(at(at(m["coarse"], "best"), "test_acc")) << " | "
       << pct(at(at(m["fine"], "best"), "value")) << " | "
       << pct(at(at(m["fine"], "best"), "test_acc")) << " | "
       << at(m["final"], "source").get<std::string>() << " | "
       << pct_pm(at(m["final"], "val_mean"), at(m["final"], "val_std")) << " | "
       << pct_pm(at(m["final"], "test_mean"), at(m["final"], "test_std")) << " | " << pct(p[0])
       << " / " << pct(p[1]) << " | " << pct(p[2]) << " / " << pct(p[3]) << " |\n";
  }
  md << "\nOn 2,007 test images one error is 0.05%, and the 95% interval around 97.5% accuracy is "
        "about ±0.7%.\n\n";

  md << "## Narrowed search intervals\n\nFrom the top 20% of the completed coarse trials: mean ± "
        "std "
        "(log space for the learning rate), clipped to the original bounds; the most frequent "
        "batch size.\n\n";
  md << "| model | top / trials | lr | momentum | dropout | batch |\n|---|---|---|---|---|---|\n";
  for (const auto& entry : models) {
    const json& n = entry["value"]["narrowing"];
    auto iv = [&](const char* k) {
      const json& v = at(at(n, "intervals"), k);
      return v.is_null() ? std::string("–")
                         : "(" + num(v["low"], 3) + ", " + num(v["high"], 3) + ")";
    };
    md << "| " << entry["key"].get<std::string>() << " | " << n.value("n_top", 0) << " / "
       << n.value("n_trials", 0) << " | " << iv("lr") << " | " << iv("momentum") << " | "
       << iv("dropout") << " | " << num(at(at(n, "mode"), "batch")) << " |\n";
  }
  md << "\n## Final hyperparameters\n\n| model | from | lr | batch | momentum | dropout "
        "|\n|---|---|---|---|---|---|\n";
  for (const auto& entry : models) {
    const json& p = entry["value"]["final"]["params"];
    md << "| " << entry["key"].get<std::string>() << " | "
       << entry["value"]["final"]["source"].get<std::string>() << " | " << num(p["lr"]) << " | "
       << num(p["batch"]) << " | " << num(p["momentum"], 3) << " | " << num(p["dropout"], 3)
       << " |\n";
  }

  const json& ens = at(r, "ensemble");
  md << "\n## Ensemble\n\n";
  if (ens.is_null()) {
    md << "Needs all three models.\n";
  } else {
    md << "Weighted soft voting of the three final models of each seed; "
       << cfg.value("ensemble_draws", 0)
       << " weight draws (MLP in (0, 0.2), LCNN in (0, 0.8), CNN = 1 − both), chosen on the "
          "validation set "
          "and reported on the test set (the paper chose on the test set).\n\n";
    md << "| | test accuracy |\n|---|---|\n";
    for (const auto& entry : models)
      md << "| " << entry["key"].get<std::string>() << " alone | "
         << pct_pm(entry["value"]["final"]["test_mean"], entry["value"]["final"]["test_std"])
         << " |\n";
    md << "| ensemble | " << pct_pm(ens["test_mean"], ens["test_std"])
       << " |\n| paper's ensemble | " << pct(kPaper["ensemble_test"])
       << " (weights ≈ 0, 0.98, ≈ 0) |\n\n";
    md << "| seed | w mlp | w cnn | w lcnn | val | test |\n|---|---|---|---|---|---|\n";
    for (const auto& s : ens["per_seed"])
      md << "| " << s["seed_index"] << " | " << num(s["weights"]["mlp"], 3) << " | "
         << num(s["weights"]["cnn"], 3) << " | " << num(s["weights"]["lcnn"], 3) << " | "
         << pct(s["val_acc"]) << " | " << pct(s["test_acc"]) << " |\n";
    md << "\nConfusion matrix of the ensemble (seed 0) on the test set, rows true, columns "
          "predicted:\n\n|   |";
    for (int c = 0; c < 10; ++c) md << " " << c << " |";
    md << "\n|---|";
    for (int c = 0; c < 10; ++c) md << "---|";
    md << "\n";
    const json& cm = r["ensemble_confusion"];
    for (int t = 0; t < 10; ++t) {
      md << "| **" << t << "** |";
      for (int c = 0; c < 10; ++c) md << " " << cm[t][c].get<int>() << " |";
      md << "\n";
    }
  }

  const json& eff = at(r, "effects");
  // The study's model order for a per-model map of the report.
  auto in_order = [&](const json& per_model) {
    std::vector<std::pair<std::string, json>> out;
    for (const auto& name : cfg["models"])
      if (per_model.is_object() && per_model.contains(name.get<std::string>()))
        out.emplace_back(name.get<std::string>(), per_model[name.get<std::string>()]);
    return out;
  };
  // The average of a per-epoch series over its finite values.
  auto avg = [](const json& series) {
    double s = 0;
    int n = 0;
    for (const auto& v : series)
      if (v.is_number() && std::isfinite(v.get<double>())) {
        s += v.get<double>();
        ++n;
      }
    return n ? json(s / n) : json(nullptr);
  };
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
  for (const auto& [model, result] : in_order(at(eff, "init"))) {
    const json& lanes = result["lanes"];
    const json& p = kPaper["table2"][model];
    md << "| " << model;
    for (const auto& l : lanes)
      md << " | " << num(avg(l["grad_mean_abs"])) << " (" << num(avg(l["grad_l2"]), 3) << ")"
         << (l["diverged"].get<bool>() ? " (diverged)" : "");
    md << " | " << pct(lanes[0]["test_acc"], 1) << " / " << pct(lanes[1]["test_acc"], 1) << " / "
       << pct(lanes[2]["test_acc"], 1) << " | " << num(p[0]) << " | " << num(p[1]) << " | "
       << num(p[2]) << " |\n";
  }

  md << "\n## Correlation with validation accuracy over the coarse trials (Pearson r)\n\n"
        "| model | trials | log10 lr | momentum | dropout | log2 batch "
        "|\n|---|---|---|---|---|---|\n";
  for (const auto& entry : models) {
    const json& c = entry["value"]["correlations"];
    md << "| " << entry["key"].get<std::string>() << " | " << c["n"] << " | "
       << num(c["log10_lr"], 3) << " | " << num(c["momentum"], 3) << " | " << num(c["dropout"], 3)
       << " | " << num(c["log2_batch"], 3) << " |\n";
  }
  md << "\nThe paper: CNN momentum r = " << kPaper["correlation"]["cnn_momentum"]
     << ", MLP dropout r = " << kPaper["correlation"]["mlp_dropout"] << " (30 trials each).\n";

  auto effect_table = [&](const std::string& key, const std::string& title,
                          const std::string& what) {
    const json& e = at(eff, key);
    if (e.is_null()) return;
    md << "\n## " << title << "\n\n"
       << what << "\n\n| model | run | first-epoch train loss | last-epoch train loss | "
       << "mean abs gradient, first / last epoch | test acc | diverged "
          "|\n|---|---|---|---|---|---|---|\n";
    for (const auto& [model, result] : in_order(e))
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
  };
  effect_table("lr_scaling", "Learning-rate scaling",
               "The tuned learning rate times 0.01, 1, 10 and 100.");
  effect_table("batch", "CNN batch size 8 vs 32", "Other hyperparameters as tuned.");
  effect_table("momentum", "CNN momentum", "Momentum 0.5, the tuned value, and 0.99.");
  effect_table("dropout", "MLP dropout", "Dropout 0.1, the tuned value, and 0.99.");

  md << "\n## Wall time\n\nSeconds per stage on " << r.value("device", "?")
     << ", added up over the runs that worked on it.\n\n| model | coarse search | fine search | "
        "final seeds | effect experiments |\n|---|---|---|---|---|\n";
  for (const auto& entry : models) {
    const std::string key = entry["key"];
    double effects = 0;
    bool any = false;
    for (const auto& [name, per_model] : eff.items())
      if (per_model.contains(key) && per_model[key].contains("seconds")) {
        effects += per_model[key]["seconds"].get<double>();
        any = true;
      }
    md << "| " << key << " | " << num(at(entry["value"]["coarse"], "seconds")) << " | "
       << num(at(entry["value"]["fine"], "seconds")) << " | "
       << num(at(entry["value"]["final"], "seconds")) << " | " << (any ? num(json(effects)) : "–")
       << " |\n";
  }
  md << "\nThis run of `sgdlab study`: " << num(at(r, "seconds")) << " s.\n";

  md << "\n## Figures\n\n";
  for (const char* f :
       {"kde_mlp", "kde_cnn", "kde_lcnn", "history", "lr_scaling", "batch_gradients",
        "momentum_gradients", "dropout_loss", "ensemble_confusion"})
    md << "![" << f << "](figures/" << f << ".png)\n\n";
  md << "Figures are made by `tools/figures.py` (matplotlib); when it could not run during the "
        "study, make "
        "them with `/usr/bin/python3 tools/figures.py DIR`.\n";
  return md.str();
}

}  // namespace sgdlab
