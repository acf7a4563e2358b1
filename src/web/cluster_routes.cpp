#include "web/cluster_routes.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "web/dicomweb_routes.h"

namespace dxhub::web {

using nlohmann::json;

void ClusterRoutes::Register(RouteTable& routes) {
  routes.Get(
      "/api/cluster", Needs(Role::kAdmin),
      [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
        auto nodes = archive_.index().cluster().ListNodes();
        if (!nodes.ok())
          return SendErrorResponse(res, nodes.error());
        auto depths = archive_.index().cluster().QueueDepths();
        if (!depths.ok())
          return SendErrorResponse(res, depths.error());
        const int64_t now = clock_.NowMillis();
        json list = json::array();
        int alive = 0;
        for (const auto& n : *nodes) {
          const int64_t age = now - n.heartbeat_ms;
          const bool up = age <= lease_ms_;
          alive += up ? 1 : 0;
          list.push_back(
              {{"name", n.name},
               {"self", n.name == self_},
               {"alive", up},
               {"version", n.version},
               {"http_url", n.http_url},
               {"dicom_port", n.dicom_port},
               {"pid", n.pid},
               {"started_at", FormatIsoMillis(n.started_ms)},
               {"heartbeat_at", FormatIsoMillis(n.heartbeat_ms)},
               {"heartbeat_age_s", static_cast<double>(age) / 1000.0},
               {"load", n.load},
               {"instances_ingested", n.ingested},
               {"jobs_taken_over", n.taken_over},
               {"claimed", {{"ai", n.ai_claimed}, {"processing", n.processing_claimed}}}});
        }
        auto depth = [](const store::JobQueueDepth& d) {
          return json{{"pending", d.pending}, {"running", d.running}};
        };
        SendJsonResponse(
            res, 200,
            {{"node", self_},
             {"database", archive_.index().Describe()},
             {"schema_version", archive_.index().SchemaVersion()},
             {"lease_s", static_cast<double>(lease_ms_) / 1000.0},
             {"nodes_alive", alive},
             {"nodes", std::move(list)},
             {"queues", {{"ai", depth(depths->first)}, {"processing", depth(depths->second)}}}});
      });
}

}  // namespace dxhub::web
