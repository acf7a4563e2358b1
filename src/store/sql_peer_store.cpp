// PeerStore written once over sql::Database.

#include "store/sql_peer_store.h"

#include "core/strings.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

constexpr const char* kUpsert =
    "INSERT INTO peers(name, kind, aet, host, port, query, allow_from, tls, ca, url, token, "
    "updated_at, updated_by) VALUES (:name, :kind, :aet, :host, :port, :query, :allow_from, :tls, "
    ":ca, :url, :token, :now, :by) ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, "
    "aet = excluded.aet, host = excluded.host, port = excluded.port, query = excluded.query, "
    "allow_from = excluded.allow_from, tls = excluded.tls, ca = excluded.ca, url = excluded.url, "
    "token = excluded.token, updated_at = excluded.updated_at, updated_by = excluded.updated_by";

class SqlPeerStore final : public PeerStore {
 public:
  explicit SqlPeerStore(sql::Database& db) : db_(db) {}

  Result<StoredPeers> List() override {
    StoredPeers out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out = {};
      auto rows = tx.Prepare(
          "SELECT name, kind, aet, host, port, query, allow_from, tls, ca, url, token FROM peers "
          "ORDER BY name");
      if (!rows.ok())
        return rows.error();
      return rows->ForEach([&](const Stmt& r) {
        if (r.Text("kind") == "dicomweb") {
          out.dicomweb_peers.push_back({r.Text("name"), r.Text("url"), r.Text("token")});
          return;
        }
        RemoteAe ae;
        ae.name = r.Text("name");
        ae.aet = r.Text("aet");
        ae.host = r.Text("host");
        ae.port = static_cast<int>(r.Int("port"));
        ae.query = r.Int("query") != 0;
        for (auto& range : Split(r.Text("allow_from"), "\n")) {
          if (!range.empty())
            ae.from.push_back(std::move(range));
        }
        ae.tls = r.Int("tls") != 0;
        ae.ca = r.Text("ca");
        out.remote_aes.push_back(std::move(ae));
      });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status PutRemoteAe(const RemoteAe& ae, const std::string& by, int64_t now_ms) override {
    std::string from;
    for (const auto& range : ae.from) {
      if (!from.empty())
        from += '\n';
      from += range;
    }
    return db_.Write([&](Transaction& tx) -> Status {
      auto put = tx.Prepare(kUpsert);
      if (!put.ok())
        return put.error();
      put->Bind("name", ae.name)
          .Bind("kind", "dicom")
          .Bind("aet", ae.aet)
          .Bind("host", ae.host)
          .Bind("port", ae.port)
          .Bind("query", ae.query ? 1 : 0)
          .Bind("allow_from", from)
          .Bind("tls", ae.tls ? 1 : 0)
          .Bind("ca", ae.ca)
          .Bind("url", "")
          .Bind("token", "")
          .Bind("now", now_ms)
          .Bind("by", by);
      return put->Run();
    });
  }

  Status PutDicomWebPeer(const DicomWebPeer& peer, const std::string& by, int64_t now_ms) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto put = tx.Prepare(kUpsert);
      if (!put.ok())
        return put.error();
      put->Bind("name", peer.name)
          .Bind("kind", "dicomweb")
          .Bind("aet", "")
          .Bind("host", "")
          .Bind("port", 0)
          .Bind("query", 0)
          .Bind("allow_from", "")
          .Bind("tls", 0)
          .Bind("ca", "")
          .Bind("url", peer.url)
          .Bind("token", peer.token)
          .Bind("now", now_ms)
          .Bind("by", by);
      return put->Run();
    });
  }

  Status Delete(const std::string& name) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto del = tx.Prepare("DELETE FROM peers WHERE name = :name");
      if (!del.ok())
        return del.error();
      del->Bind("name", name);
      DXHUB_TRY(del->Run());
      if (del->Changes() == 0)
        return MakeError(ErrorCode::kNotFound, "no peer named '" + name + "'");
      return Ok();
    });
  }

 private:
  sql::Database& db_;
};

}  // namespace

std::unique_ptr<PeerStore> MakeSqlPeerStore(sql::Database& db) {
  return std::make_unique<SqlPeerStore>(db);
}

}  // namespace dxhub::store
