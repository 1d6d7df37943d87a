//! Loads N entries (default 10M) of the seed's shape in random order and
//! reports peak RSS against the configured memory budgets.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let options = fractio::Options::default();
    let budget =
        options.memtable_size * (1 + options.max_sealed_memtables) + options.block_cache_size;
    let db = fractio::Db::builder(dir.path())
        .options(options)
        .open()
        .unwrap();
    let value = [b'v'; 100];
    let started = std::time::Instant::now();
    let mut key = [b'k'; 16];
    for i in 0..n {
        // A cheap permutation of 0..n so keys arrive in random order.
        let j = (i * 1_000_000_007) % n; // a bijection: the prime does not divide n
        let digits = format!("_{j}");
        key[16 - digits.len()..].copy_from_slice(digits.as_bytes());
        key[..3].copy_from_slice(b"rnd");
        db.insert(key, value).unwrap();
    }
    db.flush().unwrap();
    let stats = db.stats();
    println!(
        "loaded {n} entries in {:.1} s; peak RSS {} MiB; memtable+cache budget {} MiB; table bytes {} MiB; L0 {} tables; write amp {:.2}; stalls {} ({} ms), slowdowns {}",
        started.elapsed().as_secs_f64(),
        vm_hwm_kib() / 1024,
        budget >> 20,
        stats.table_bytes() >> 20,
        stats.l0_tables(),
        stats.write_amplification(),
        stats.stalls,
        stats.stall_micros / 1000,
        stats.slowdowns,
    );
}
