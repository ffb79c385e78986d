// A libFuzzer stand-in for compilers without -fsanitize=fuzzer (GCC): runs the target's
// LLVMFuzzerTestOneInput over its seeds, any corpus files given, and a deterministic stream of
// random mutations of them, for a bounded number of inputs and seconds. No coverage feedback:
// it is a regression net that runs everywhere, not a replacement for the libFuzzer build.
//
// usage: <target>_driver [--runs N] [--max-seconds S] [--seed X] [--max-len L]
//                        [--write-corpus DIR] [corpus files or directories...]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.h"

namespace {

// xorshift64*: tiny, deterministic across platforms and standard libraries.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }

 private:
  uint64_t s_;
};

// Values that sit on the decoders' edges, written big-endian over random positions.
constexpr uint32_t kInteresting32[] = {0,          1,          3,          4,          5,         8,
                                       21,         22,         0x7F,       0x80,       0xFF,      0x7FFF,
                                       0x8000,     0xFFFF,     0xFFFFFF,   0x1000000,  0xFFFFFC,  0xFFFFFD,
                                       0x01000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE};
constexpr const char* kTokens[] = {"{", "}", "[", "]", ":", ",", "\"", "\\", "\\u", "\\ud83d", "\\udc00",
                                   "null", "true", "false", "-", "0", "1e9", "\"code\":", "\"extFields\":{",
                                   "\"remark\":", "\"language\":", "\"JAVA\"", "\n"};

void put32(std::string* s, size_t pos, uint32_t v) {
  for (int i = 0; i < 4 && pos + i < s->size(); ++i) (*s)[pos + i] = static_cast<char>(v >> (24 - 8 * i));
}

void mutate(std::string* s, const std::vector<std::string>& pool, Rng* rng, size_t max_len) {
  const int rounds = 1 + static_cast<int>(rng->below(4));
  for (int r = 0; r < rounds; ++r) {
    switch (rng->below(9)) {
      case 0:  // flip a bit
        if (!s->empty()) (*s)[rng->below(s->size())] ^= static_cast<char>(1 << rng->below(8));
        break;
      case 1:  // random byte
        if (!s->empty()) (*s)[rng->below(s->size())] = static_cast<char>(rng->next());
        break;
      case 2:  // interesting big-endian int
        if (!s->empty()) {
          put32(s, rng->below(s->size()), kInteresting32[rng->below(std::size(kInteresting32))]);
        }
        break;
      case 3: {  // insert random bytes
        std::string ins(1 + rng->below(8), '\0');
        for (char& c : ins) c = static_cast<char>(rng->next());
        s->insert(rng->below(s->size() + 1), ins);
        break;
      }
      case 4:  // erase a range
        if (!s->empty()) {
          size_t pos = rng->below(s->size());
          s->erase(pos, 1 + rng->below(std::min<size_t>(16, s->size() - pos)));
        }
        break;
      case 5:  // truncate
        s->resize(rng->below(s->size() + 1));
        break;
      case 6: {  // duplicate a range
        if (s->empty()) break;
        size_t pos = rng->below(s->size());
        size_t len = 1 + rng->below(std::min<size_t>(64, s->size() - pos));
        s->insert(rng->below(s->size() + 1), s->substr(pos, len));
        break;
      }
      case 7: {  // splice with another input
        const std::string& other = pool[rng->below(pool.size())];
        if (other.empty()) break;
        size_t from = rng->below(other.size());
        s->insert(rng->below(s->size() + 1), other.substr(from, 1 + rng->below(other.size() - from)));
        break;
      }
      case 8:  // insert a syntax token
        s->insert(rng->below(s->size() + 1), kTokens[rng->below(std::size(kTokens))]);
        break;
    }
  }
  if (s->size() > max_len) s->resize(max_len);
}

bool read_file(const std::filesystem::path& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// The input being run, saved by the SIGABRT handler when a FUZZ_CHECK (or HF_CHECK) fails so
// the failure can be replayed: `<target>_driver fuzz-driver-crash`.
const std::string* g_current = nullptr;

void save_current_input(int sig) {
  if (g_current != nullptr) {
    int fd = ::open("fuzz-driver-crash", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, g_current->data(), g_current->size());
      (void)ignored;
      ::close(fd);
      const char msg[] = "fuzz driver: failing input saved to ./fuzz-driver-crash\n";
      ignored = ::write(2, msg, sizeof(msg) - 1);
    }
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

int run(const std::string& input) {
  g_current = &input;
  int rc = LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_current = nullptr;
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 200000;
  double max_seconds = 25;
  uint64_t seed = 1;
  size_t max_len = 4096;
  std::string write_dir;
  std::vector<std::string> corpus_args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "missing value for " << a << "\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--runs") {
      runs = std::stoull(value());
    } else if (a == "--max-seconds") {
      max_seconds = std::stod(value());
    } else if (a == "--seed") {
      seed = std::stoull(value());
    } else if (a == "--max-len") {
      max_len = std::stoull(value());
    } else if (a == "--write-corpus") {
      write_dir = value();
    } else {
      corpus_args.push_back(a);
    }
  }

  std::signal(SIGABRT, save_current_input);
  std::signal(SIGSEGV, save_current_input);
  std::vector<std::string> pool = holdfast::fuzz::seeds();
  if (!write_dir.empty()) {
    std::filesystem::create_directories(write_dir);
    for (size_t i = 0; i < pool.size(); ++i) {
      std::ofstream out(std::filesystem::path(write_dir) / ("seed-" + std::to_string(i)), std::ios::binary);
      out.write(pool[i].data(), static_cast<std::streamsize>(pool[i].size()));
    }
    std::cout << "wrote " << pool.size() << " seeds to " << write_dir << "\n";
    return 0;
  }
  for (const std::string& arg : corpus_args) {
    std::filesystem::path p(arg);
    std::string data;
    if (std::filesystem::is_directory(p)) {
      for (const auto& entry : std::filesystem::directory_iterator(p)) {
        if (entry.is_regular_file() && read_file(entry.path(), &data)) pool.push_back(data);
      }
    } else if (read_file(p, &data)) {
      pool.push_back(data);
    } else {
      std::cerr << "cannot read " << arg << "\n";
      return 2;
    }
  }

  std::cout << "fuzz driver: seed " << seed << ", " << pool.size() << " corpus inputs, up to " << runs
            << " runs or " << max_seconds << " s" << std::endl;
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& input : pool) run(input);
  Rng rng(seed);
  uint64_t done = 0;
  std::string input;
  for (; done < runs; ++done) {
    if ((done & 1023) == 0) {
      std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      if (elapsed.count() > max_seconds) break;
    }
    input = pool[rng.below(pool.size())];
    mutate(&input, pool, &rng, max_len);
    run(input);
    // Keep some mutants so later rounds explore further from the seeds.
    if (rng.below(64) == 0 && pool.size() < 4096) pool.push_back(input);
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  std::cout << "fuzz driver: " << done << " mutated inputs in " << elapsed.count() << " s, no failures" << std::endl;
  return 0;
}
