#include "broker/epoch_file.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace holdfast::broker {

std::string epoch_divergence(const std::vector<Epoch>& master_epochs, int64_t master_end,
                             const std::vector<Epoch>& slave_epochs, int64_t slave_end) {
  if (slave_end == 0 || slave_epochs.empty()) return "";
  const Epoch& last = slave_epochs.back();
  size_t i = 0;
  while (i < master_epochs.size() && master_epochs[i].epoch != last.epoch) ++i;
  if (i == master_epochs.size()) {
    return "the slave's log ends in epoch " + std::to_string(last.epoch) +
           ", which this master's history does not have (its data was replaced or it is another group's "
           "master); the slave holds " + std::to_string(slave_end) + " bytes";
  }
  if (master_epochs[i].start_offset != last.start_offset) {
    return "epoch " + std::to_string(last.epoch) + " starts at " + std::to_string(master_epochs[i].start_offset) +
           " on the master but at " + std::to_string(last.start_offset) + " on the slave";
  }
  const int64_t epoch_end = i + 1 < master_epochs.size() ? master_epochs[i + 1].start_offset : master_end;
  if (slave_end > epoch_end) {
    return "the master's log of epoch " + std::to_string(last.epoch) + " ends at " + std::to_string(epoch_end) +
           " but the slave holds it up to " + std::to_string(slave_end) + ": the master lost " +
           std::to_string(slave_end - epoch_end) +
           " bytes (a restart after a power loss?) that may be acknowledged messages only the slave has";
  }
  return "";
}

Result<int64_t> epoch_truncation_point(const std::vector<Epoch>& master_epochs, const std::vector<Epoch>& local_epochs) {
  if (local_epochs.empty()) return int64_t{-1};
  for (size_t j = local_epochs.size(); j-- > 0;) {
    for (size_t i = master_epochs.size(); i-- > 0;) {
      if (master_epochs[i] != local_epochs[j]) continue;
      // The common epoch ends where the next epoch starts on either side.
      int64_t cut = -1;
      if (i + 1 < master_epochs.size()) cut = master_epochs[i + 1].start_offset;
      if (j + 1 < local_epochs.size()) {
        const int64_t local_next = local_epochs[j + 1].start_offset;
        cut = cut < 0 ? local_next : std::min(cut, local_next);
      }
      return cut;
    }
  }
  return Status::corruption("no epoch in common: this member's log (epochs " + encode_epochs(local_epochs) +
                            ") is not a copy of the master's (" + encode_epochs(master_epochs) + ")");
}

std::string encode_epochs(const std::vector<Epoch>& epochs) {
  nlohmann::json list = nlohmann::json::array();
  for (const Epoch& e : epochs) list.push_back({e.epoch, e.start_offset});
  return nlohmann::json{{"epochs", list}}.dump();
}

Result<std::vector<Epoch>> decode_epochs(const std::string& text) {
  HF_ASSIGN_OR_RETURN(nlohmann::json doc, parse_json(text, "epoch file"));
  if (!doc.is_object() || !doc.contains("epochs") || !doc["epochs"].is_array()) {
    return Status::corruption("epoch file: no \"epochs\" list");
  }
  std::vector<Epoch> out;
  for (const auto& e : doc["epochs"]) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_number_integer()) {
      return Status::corruption("epoch file: an entry is not [epoch, startOffset]");
    }
    Epoch x{e[0].get<int64_t>(), e[1].get<int64_t>()};
    if (!out.empty() && (x.epoch <= out.back().epoch || x.start_offset < out.back().start_offset)) {
      return Status::corruption("epoch file: epochs and start offsets must grow");
    }
    out.push_back(x);
  }
  return out;
}

EpochFile::EpochFile(Env* env, std::string path)
    : env_(env), path_(path), file_(env, std::move(path), [](const std::string& text) {
        return decode_epochs(text).status();
      }) {}

Status EpochFile::load() {
  std::vector<Epoch> loaded;
  std::string text;
  ConfigSource source = ConfigSource::kNone;
  HF_RETURN_IF_ERROR(load_config_file(
      env_, path_,
      [&](const std::string& t) -> Status {
        HF_ASSIGN_OR_RETURN(loaded, decode_epochs(t));
        text = t;
        return Status::ok();
      },
      &source));
  std::lock_guard<std::mutex> lock(mu_);
  entries_ = std::move(loaded);
  if (source == ConfigSource::kMain) file_.loaded_from_main(std::move(text));
  return Status::ok();
}

std::vector<Epoch> EpochFile::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

Result<int64_t> EpochFile::begin_epoch(int64_t start_offset) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Epoch> next = entries_;
  const int64_t epoch = next.empty() ? 1 : next.back().epoch + 1;
  if (!next.empty() && start_offset < next.back().start_offset) {
    return Status::corruption("the log ends at " + std::to_string(start_offset) + ", before the start of epoch " +
                              std::to_string(next.back().epoch) + " (" + std::to_string(next.back().start_offset) +
                              ")");
  }
  next.push_back({epoch, start_offset});
  HF_RETURN_IF_ERROR(file_.write(encode_epochs(next)));
  entries_ = std::move(next);
  return epoch;
}

Status EpochFile::replace(const std::vector<Epoch>& epochs) {
  std::lock_guard<std::mutex> lock(mu_);
  if (epochs == entries_) return Status::ok();
  HF_RETURN_IF_ERROR(file_.write(encode_epochs(epochs)));
  entries_ = epochs;
  return Status::ok();
}

}  // namespace holdfast::broker
