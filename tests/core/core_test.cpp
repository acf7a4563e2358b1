#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "../test_util.h"
#include "core/byte_cache.h"
#include "core/config.h"
#include "core/config_keys.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/strings.h"
#include "core/thread_pool.h"
#include "core/uid.h"

namespace dxhub {
namespace {

TEST(Uid, AcceptsValidUids) {
  EXPECT_TRUE(ValidateUid("1.2.840.10008.5.1.4.1.1.2", "x").ok());
  EXPECT_TRUE(ValidateUid("1", "x").ok());
  EXPECT_TRUE(ValidateUid(std::string(64, '1'), "x").ok());
  EXPECT_TRUE(ValidateUid("1.2.0.03", "x").ok());  // leading zero tolerated, see uid.h
}

TEST(Uid, RejectsHostileAndMalformedUids) {
  for (const char* bad :
       {"../../etc/passwd", "1.2..3", ".1.2", "1.2.", "1.2.3a", "1.2 .3", "1/2", "..", "1.2.3\n"}) {
    auto st = ValidateUid(bad, "SOPInstanceUID");
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(st.error().message.find("SOPInstanceUID"), std::string::npos);
  }
  EXPECT_FALSE(ValidateUid(std::string(65, '1'), "x").ok());
  EXPECT_EQ(ValidateUid("", "x").error().code, ErrorCode::kMissingAttribute);
}

TEST(ByteCache, EvictsLeastRecentlyUsedWithinItsByteBudget) {
  ByteCache cache(100);
  cache.Put("a", std::string(20, 'a'));
  cache.Put("b", std::string(20, 'b'));
  cache.Put("c", std::string(20, 'c'));
  ASSERT_TRUE(cache.Get("a"));  // a is now the most recently used
  cache.Put("d", std::string(20, 'd'));
  cache.Put("e", std::string(20, 'e'));  // 100 bytes: still all fit
  EXPECT_EQ(cache.GetStats().bytes, 100u);
  cache.Put("f", std::string(20, 'f'));  // evicts b, the least recently used
  EXPECT_FALSE(cache.Get("b"));
  EXPECT_TRUE(cache.Get("a"));
  EXPECT_EQ(*cache.Get("f"), std::string(20, 'f'));
  EXPECT_LE(cache.GetStats().bytes, 100u);

  cache.Put("a", "short");  // replacing an entry adjusts the byte count
  EXPECT_EQ(*cache.Get("a"), "short");
  EXPECT_EQ(cache.GetStats().bytes, 85u);

  cache.Put("huge", std::string(26, 'h'));  // over a quarter of the budget: not cached
  EXPECT_FALSE(cache.Get("huge"));
  EXPECT_EQ(cache.GetStats().entries, 5u);
}

TEST(ByteCache, ZeroCapacityCachesNothing) {
  ByteCache cache(0);
  cache.Put("a", "x");
  EXPECT_FALSE(cache.Get("a"));
}

TEST(Strings, SplitKeepsEmptyFields) {
  EXPECT_EQ(Split("a,b", ","), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Split("a,,b\\c", ",\\"), (std::vector<std::string>{"a", "", "b", "c"}));
  EXPECT_EQ(Split("", ","), (std::vector<std::string>{""}));
  EXPECT_EQ(Split("a,", ","), (std::vector<std::string>{"a", ""}));
}

TEST(ErrorTable, MapsEveryInterface) {
  Error e = MakeError(ErrorCode::kMalformedDicom, "x");
  EXPECT_EQ(e.HttpStatus(), 400);
  EXPECT_EQ(e.DicomStatus(), 0xC000);
  EXPECT_EQ(MakeError(ErrorCode::kDiskFull, "").DicomStatus(), 0xA700);
  EXPECT_EQ(MakeError(ErrorCode::kMissingAttribute, "").DicomStatus(), 0xA900);
  EXPECT_EQ(MakeError(ErrorCode::kNotFound, "").HttpStatus(), 404);
  EXPECT_EQ(MakeError(ErrorCode::kNotFound, "").Name(), "not_found");
  // The table is indexed by the enum: the last rows must line up too.
  EXPECT_EQ(Describe(ErrorCode::kNotAcceptable).http_status, 406);
  EXPECT_EQ(Describe(ErrorCode::kInternal).name, "internal_error");
}

TEST(Hash, KnownSha256Vectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Fs, WriteSyncedReadBackAndHash) {
  testing::ScratchDir dir;
  std::string path = dir / "a/b/c.bin";
  ASSERT_TRUE(fs::MakeDirs(dir / "a/b").ok());
  std::string text = "hello";
  ASSERT_TRUE(
      fs::WriteFileSynced(path, std::span<const uint8_t>(
                                    reinterpret_cast<const uint8_t*>(text.data()), text.size()))
          .ok());
  EXPECT_EQ(fs::ReadFile(path).value(), "hello");
  EXPECT_EQ(Sha256File(path).value(), Sha256Hex("hello"));
  ASSERT_TRUE(fs::RenameDurable(path, dir / "moved").ok());
  EXPECT_FALSE(fs::Exists(path));
  EXPECT_EQ(fs::FileSize(dir / "moved").value(), 5u);
  EXPECT_FALSE(fs::ReadFile(dir / "missing").ok());
}

TEST(ThreadPool, RunsEverythingAndWaits) {
  std::atomic<int> sum{0};
  {
    ThreadPool pool(3, 2);  // tiny queue exercises back-pressure
    for (int i = 1; i <= 100; ++i)
      pool.Submit([&, i] { sum += i; });
    pool.Wait();
    EXPECT_EQ(sum.load(), 5050);
  }
}

TEST(Config, RemoteAes) {
  auto ae = ParseRemoteAe("PACS@10.0.0.5:4242");
  ASSERT_TRUE(ae.ok());
  EXPECT_EQ(ae->aet, "PACS");
  EXPECT_EQ(ae->host, "10.0.0.5");
  EXPECT_EQ(ae->port, 4242);
  for (const char* bad : {"PACS", "PACS@host", "@h:1", "PACS@:1", "PACS@h:0", "PACS@h:x",
                          "AN_AE_TITLE_TOO_LONG@h:1"}) {
    EXPECT_FALSE(ParseRemoteAe(bad).ok()) << bad;
  }
  testing::ScratchDir dir;
  {
    std::ofstream f(dir / "ae.toml");
    f << "remote-ae = [\"A@h1:104\", { aet = \"B\", host = \"h2\", port = 11112 }]\n";
  }
  auto cfg = LoadConfigFile(dir / "ae.toml", Config{});
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  ASSERT_EQ(cfg->remote_aes.size(), 2u);
  EXPECT_EQ(cfg->remote_aes[1].aet, "B");
  EXPECT_EQ(cfg->remote_aes[1].port, 11112);
}

TEST(Config, DicomWebPeers) {
  auto peer = ParseDicomWebPeer("central=https://pacs.example.org:8443/dicom-web/");
  ASSERT_TRUE(peer.ok()) << peer.error().ToString();
  EXPECT_EQ(peer->name, "central");
  EXPECT_EQ(peer->url, "https://pacs.example.org:8443/dicom-web");  // trailing slash dropped
  for (const char* bad : {"central", "=http://h", "bad name=http://h", "x=ftp://h", "x=http://",
                          "x=http:///path", "x=http://h/dicom-web?x=1", "x=h:8042"}) {
    EXPECT_FALSE(ParseDicomWebPeer(bad).ok()) << bad;
  }
  testing::ScratchDir dir;
  {
    std::ofstream f(dir / "peers.toml");
    f << "cache-mb = 64\n"
         "dicomweb-peer = [\"a=http://h1:8042/dicom-web\", "
         "{ name = \"b\", url = \"http://h2/wado\" }]\n"
         "remote-ae = [\"R@h:104\"]\n";
  }
  auto cfg = LoadConfigFile(dir / "peers.toml", Config{});
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->cache_mb, 64);
  ASSERT_EQ(cfg->dicomweb_peers.size(), 2u);
  EXPECT_EQ(cfg->dicomweb_peers[1].url, "http://h2/wado");
  EXPECT_TRUE(ValidateConfig(*cfg).ok());
  cfg->remote_aes[0].name = "b";  // names are how operators refer to nodes: must be unique
  EXPECT_FALSE(ValidateConfig(*cfg).ok());
  {
    std::ofstream f(dir / "bad.toml");
    f << "dicomweb-peer = [{ name = \"c\" }]\n";
  }
  EXPECT_FALSE(LoadConfigFile(dir / "bad.toml", Config{}).ok());
}

TEST(Config, FileOverlaysDefaultsAndRejectsUnknownKeys) {
  testing::ScratchDir dir;
  {
    std::ofstream f(dir / "ok.toml");
    f << "data = \"/srv/dxhub\"\nhttp-port = 9090\naet = \"HUB1\"\n"
         "allowed-aets = [\"CT1\", \"MR2\"]\nduplicates = \"replace\"\n";
  }
  auto cfg = LoadConfigFile(dir / "ok.toml", Config{});
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->data_dir, "/srv/dxhub");
  EXPECT_EQ(cfg->http_port, 9090);
  EXPECT_EQ(cfg->dicom_port, 11112);  // default kept
  EXPECT_EQ(cfg->aet, "HUB1");
  EXPECT_EQ(cfg->allowed_aets, (std::vector<std::string>{"CT1", "MR2"}));
  EXPECT_EQ(cfg->duplicates, DuplicatePolicy::kReplace);
  {
    std::ofstream f(dir / "typo.toml");
    f << "htp-port = 9090\n";
  }
  auto bad = LoadConfigFile(dir / "typo.toml", Config{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("htp-port"), std::string::npos);
  {
    std::ofstream f(dir / "broken.toml");
    f << "data = \n";
  }
  EXPECT_FALSE(LoadConfigFile(dir / "broken.toml", Config{}).ok());
}

// Every key of the table loads from a config file, and a value of the wrong type is refused with
// the key named. (The loader once rejected ai-workers, stable-after and worklist-wait-cap, which
// the README documents as keys.)
TEST(Config, EveryKeyLoadsFromTheFile) {
  testing::ScratchDir dir;
  for (const auto& key : ConfigKeys()) {
    const std::string name(key.name);
    std::string value;
    switch (key.kind) {
      case KeyKind::kInt:
        value = "7";
        break;
      case KeyKind::kString:
        value = name == "duplicates" ? "\"replace\"" : "\"x\"";
        break;
      case KeyKind::kFlag:
        value = "true";
        break;
      case KeyKind::kList:
      case KeyKind::kRepeated:
        value = name == "dicomweb-peer"                     ? "[\"p=http://h/dicom-web\"]"
                : name == "remote-ae" || name == "query-ae" ? "[\"AE1@127.0.0.1:104\"]"
                                                            : "[\"10.0.0.1\"]";
        break;
    }
    {
      std::ofstream f(dir / "one.toml");
      f << name << " = " << value << "\n";
    }
    auto cfg = LoadConfigFile(dir / "one.toml", Config{});
    EXPECT_TRUE(cfg.ok()) << name << ": " << (cfg.ok() ? "" : cfg.error().ToString());
    {
      std::ofstream f(dir / "wrong.toml");
      f << name << " = " << (key.kind == KeyKind::kInt ? "\"seven\"" : "{ a = 1 }") << "\n";
    }
    auto wrong = LoadConfigFile(dir / "wrong.toml", Config{});
    ASSERT_FALSE(wrong.ok()) << name;
    EXPECT_NE(wrong.error().message.find(name), std::string::npos) << wrong.error().message;
  }
  {
    std::ofstream f(dir / "documented.toml");
    f << "ai-workers = 1\nstable-after = 5\nworklist-wait-cap = 30\nno-ai = true\n"
         "max-associations-per-host = 3\nallowed-hosts = [\"10.0.0.0/8\"]\n";
  }
  auto cfg = LoadConfigFile(dir / "documented.toml", Config{});
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->ai_workers, 1);
  EXPECT_EQ(cfg->stable_after_s, 5);
  EXPECT_EQ(cfg->worklist_wait_cap_min, 30);
  EXPECT_FALSE(cfg->ai);
  EXPECT_EQ(cfg->max_associations_per_host, 3);
}

// The README's flag list is the operators' reference: every key must be in it.
TEST(Config, EveryKeyIsDocumentedInTheReadme) {
  std::ifstream readme(std::string(DXHUB_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(readme.good());
  const std::string text((std::istreambuf_iterator<char>(readme)),
                         std::istreambuf_iterator<char>());
  for (const auto& key : ConfigKeys()) {
    EXPECT_NE(text.find("--" + std::string(key.name)), std::string::npos)
        << "README.md does not mention --" << key.name;
  }
}

TEST(Config, QueryPeersFromTables) {
  testing::ScratchDir dir;
  {
    std::ofstream f(dir / "q.toml");
    f << "remote-ae = [\"DEST@10.0.0.5:104\"]\n"
         "[[query-ae]]\naet = \"VIEWER\"\nhost = \"ws1\"\nport = 4006\nfrom = [\"10.1.0.0/16\"]\n";
  }
  auto cfg = LoadConfigFile(dir / "q.toml", Config{});
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  ASSERT_EQ(cfg->remote_aes.size(), 2U);
  auto& viewer = cfg->remote_aes[0].aet == "VIEWER" ? cfg->remote_aes[0] : cfg->remote_aes[1];
  auto& dest = cfg->remote_aes[0].aet == "DEST" ? cfg->remote_aes[0] : cfg->remote_aes[1];
  EXPECT_FALSE(dest.query);
  EXPECT_TRUE(viewer.query);
  EXPECT_EQ(viewer.port, 4006);
  EXPECT_EQ(viewer.from, (std::vector<std::string>{"10.1.0.0/16"}));
  EXPECT_TRUE(ValidateConfig(*cfg).ok());
  viewer.from = {"ws1.hospital"};  // names are not addresses
  EXPECT_FALSE(ValidateConfig(*cfg).ok());
  viewer.from.clear();
  cfg->allowed_hosts = {"localhost"};
  EXPECT_FALSE(ValidateConfig(*cfg).ok());
}

}  // namespace
}  // namespace dxhub
