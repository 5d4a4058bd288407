//! The runtime of every load thread (and of provisioning): monoio on io_uring where the
//! kernel has it, else epoll — the same runtime as the server.
//!
//! The io_uring ring is set up with `IORING_SETUP_COOP_TASKRUN` (Linux 5.19+). Without it, every
//! answer the server sends makes the server's kernel interrupt this core (an IPI) so that the
//! load thread, which spins in user space in open loop, runs the completion at once. On
//! loopback that interrupt is charged to the *server's* CPU, in the send that wakes us: measured
//! here, a fifth of the server's CPU per client_credentials request at 10 k req/s open loop
//! and a sixth at 50 k (bench/RESULTS.md, "Open-loop CPU"), a cost no remote client imposes. With the
//! flag, the completion waits for this thread's next system call, which a spinning or parked
//! runtime makes within microseconds. An older kernel refuses the flag; the plain ring is then
//! used.

use monoio::time::TimeDriver;
use monoio::{FusionRuntime, IoUringDriver, LegacyDriver};

pub type Runtime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

pub fn build() -> std::io::Result<Runtime> {
    let mut coop = io_uring::IoUring::builder();
    coop.setup_coop_taskrun();
    match monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .uring_builder(coop)
        .enable_timer()
        .build()
    {
        Ok(rt) => Ok(rt),
        Err(_) => monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build(),
    }
}
