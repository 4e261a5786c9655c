// base/: files in and out, errors by domain, strict YAML — what every area relies on.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"
#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

TEST(BaseFiles, ReadTextThrowsTheCallersDomainNamingTheFile) {
  test::TempDir d;
  test::write_file(d / "a.yaml", "x: 1\n");
  EXPECT_EQ(read_text<ConfigError>(d / "a.yaml"), "x: 1\n");
  try {
    read_text<ConfigError>(d / "missing.yaml");
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(d / "missing.yaml"), std::string::npos) << e.what();
  }
  // A directory is not read as a file, whatever the domain.
  EXPECT_THROW(read_text<TraceError>(d.path()), TraceError);
  EXPECT_THROW(read_text<DataError>(d.path()), DataError);
}

TEST(BaseFiles, ReadRegularFileRefusesFifosAndOversizedFiles) {
  test::TempDir d;
  std::string fifo = d / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string out;
  EXPECT_NE(read_regular_file(fifo, out).find("not a regular file"), std::string::npos);
  test::write_file(d / "big", std::string(2048, 'x'));
  EXPECT_NE(read_regular_file(d / "big", out, 1024).find("larger than"), std::string::npos);
  EXPECT_EQ(read_regular_file(d / "big", out, 4096), "");
  EXPECT_EQ(out.size(), 2048u);
}

TEST(BaseFiles, AtomicWriteReplacesFilesButNeverALink) {
  test::TempDir d;
  atomic_write(d / "f.txt", "one");
  atomic_write(d / "f.txt", "two");
  EXPECT_EQ(test::read_file(d / "f.txt"), "two");
  fs::create_symlink(d / "f.txt", d / "link");
  EXPECT_THROW(atomic_write(d / "link", "three"), FileError);
  EXPECT_EQ(test::read_file(d / "f.txt"), "two");
  EXPECT_THROW(atomic_write(d / "no-such-dir/f.txt", "x"), FileError);
  for (const auto& e : fs::directory_iterator(d.path()))  // no temporary left behind
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(BaseFiles, PublishDirSwapsWholeDirectoriesOnlyWhenAskedTo) {
  test::TempDir d;
  fs::create_directories(d / "stage1");
  test::write_file(d / "stage1/a", "old");
  publish_dir(d / "stage1", d / "out", false);
  EXPECT_EQ(test::read_file(d / "out/a"), "old");
  fs::create_directories(d / "stage2");
  test::write_file(d / "stage2/b", "new");
  EXPECT_THROW(publish_dir(d / "stage2", d / "out", false), FileError);
  EXPECT_EQ(test::read_file(d / "out/a"), "old");
  publish_dir(d / "stage2", d / "out", true);
  EXPECT_FALSE(fs::exists(d / "out/a"));
  EXPECT_EQ(test::read_file(d / "out/b"), "new");
  EXPECT_FALSE(fs::exists(d / "stage2"));
}

TEST(BaseYaml, ParseRefusesDuplicateKeysAndSecondDocumentsInTheCallersDomain) {
  EXPECT_NO_THROW(yamlu::parse<ConfigError>("a: 1\nb: 2\n", "f.yaml"));
  try {
    yamlu::parse<ModelError>("a: 1\na: 2\n", "f.yaml");
    FAIL() << "no throw";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("f.yaml:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(yamlu::parse<ConfigError>("a: 1\n---\nb: 2\n", "f.yaml"), ConfigError);
}

TEST(BaseErrors, EveryDomainIsAnErrorWithItsLines) {
  Error e(std::vector<std::string>{"f:1: one", "f:2: two"});
  EXPECT_EQ(e.lines().size(), 2u);
  try {
    throw FileError("out.csv: cannot create");
  } catch (const Error& err) {
    EXPECT_EQ(err.lines().front(), "out.csv: cannot create");
  }
}

TEST(BaseErrors, AnErrorThrownAgainByItsKindIsTheSameTypeWithTheSameLines) {
  auto again = [](const Error& e) -> std::exception_ptr {
    try {
      throw_error(e.kind(), e.what());
    } catch (...) {
      return std::current_exception();
    }
  };
  auto same = [&](const auto& original) {
    using E = std::decay_t<decltype(original)>;
    try {
      std::rethrow_exception(again(original));
    } catch (const E& e) {
      EXPECT_EQ(e.kind(), original.kind());
      EXPECT_EQ(e.lines(), original.lines());
      return;
    } catch (...) {
    }
    ADD_FAILURE() << "kind " << int(original.kind()) << " came back as another type";
  };
  same(ConfigError("a.yaml:1: x"));
  same(ModelError(std::vector<std::string>{"m.yaml:1: one", "m.yaml:2: two"}));
  same(TraceError("t/x.npy: truncated"));
  same(DataError("ckpt: bad"));
  same(NumericError("layer conv1: mismatch"));
  same(FileError("out.csv: cannot create"));
  same(UsageError("--jobs: out of range"));
  EXPECT_EQ(Error("plain").kind(), ErrorKind::general);
}

}  // namespace
}  // namespace eatsim
