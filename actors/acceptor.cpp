#include "actors/acceptor.hpp"

#include "actors/logging.hpp"

namespace lanmesh {

caf::behavior acceptor(caf::event_based_actor* self,
                       std::shared_ptr<net::tcp_listener> listener,
                       caf::actor supervisor) {
  auto log = logging::get("acceptor");
  log->info("accepting TCP links on port {}", listener->port());
  listener->start([supervisor, log](session_ptr s) {
    log->debug("accepted {}:{}", s->remote().address().to_string(), s->remote().port());
    caf::anon_send(supervisor, inbound_atom::value, std::move(s));
  });
  // Closing on exit also drops the callback, which holds the supervisor.
  self->attach_functor([listener, log] {
    listener->close();
    log->info("stopped accepting");
  });
  return {
      [listener](caf::get_atom) { return listener->port(); },
  };
}

} // namespace lanmesh
