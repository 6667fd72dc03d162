// A test program for the generated Rust runtime: the command line and
// output of the C harness in tests/test_runtime_rules.py (key=value lines,
// key fields hex-encoded), so the same table of cases drives both.  Built
// next to the generated btfembed_rules.rs.
mod btfembed_rules;

use btfembed_rules as rt;
use std::path::PathBuf;

fn hex(name: &str, s: &str) {
    let h: String = s.bytes().map(|b| format!("{:02x}", b)).collect();
    println!("{}={}", name, h);
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn main() {
    let mut opts = rt::Options::default();
    let (mut dump, mut key_only, mut no_path) = (None, false, false);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let mut val = || {
            i += 1;
            match args.get(i) {
                Some(v) => v.clone(),
                None => {
                    eprintln!("{} needs a value", a);
                    std::process::exit(2)
                }
            }
        };
        match a {
            "--force" => opts.force = true,
            "--no-env" => opts.no_env = true,
            "--no-memfd" => opts.no_memfd = true,
            "--key-only" => key_only = true,
            "--bytes" => no_path = true,
            "--os-release" => opts.os_release = Some(PathBuf::from(val())),
            "--key" => opts.key = Some(val()),
            "--host-root" => opts.host_root = Some(PathBuf::from(val())),
            "--debug" => opts.debug = true,
            "--release" => opts.release = Some(val()),
            "--machine" => opts.machine = Some(val()),
            "--sysfs" => opts.sysfs_btf = Some(PathBuf::from(val())),
            "--tmpdir" => opts.tmpdir = Some(PathBuf::from(val())),
            "--dump" => dump = Some(PathBuf::from(val())),
            "--check-object" => {
                let data = std::fs::read(val()).expect("read the object");
                match rt::check_object(&data) {
                    Ok(()) => println!("object=ok"),
                    Err(e) => {
                        println!("object=refused");
                        eprintln!("{}", e);
                        std::process::exit(1)
                    }
                }
                return;
            }
            _ => {
                eprintln!("bad argument {}", a);
                std::process::exit(2)
            }
        }
        i += 1;
    }
    if key_only {
        let k = rt::running_key(&opts).unwrap_or_else(|e| {
            eprintln!("{}", e);
            std::process::exit(1)
        });
        println!("rc=0");
        hex("arch", &k.key.arch);
        hex("distro", &k.key.distro);
        hex("version", &k.key.distro_version);
        hex("release", &k.key.release);
        println!("uname_ok={}\nos_ok={}", k.uname_ok as i32, k.os_ok as i32);
        return;
    }
    let fds_before = count_fds();
    let (d, path, method, data) = if no_path {
        let (d, blob) = rt::lookup(&opts).unwrap_or_else(|e| {
            eprintln!("{}", e);
            std::process::exit(1)
        });
        let path = if blob.is_some() { "(memory)".to_string() } else { String::new() };
        (d, path, "none", blob.map(|b| b.to_vec()))
    } else {
        let (d, file) = rt::btf_path(&opts).unwrap_or_else(|e| {
            eprintln!("{}", e);
            std::process::exit(1)
        });
        match file {
            Some(f) => {
                let data = std::fs::read(f.path()).expect("read the BTF path");
                let method = if f.is_memfd() { "memfd" } else { "tmpfile" };
                (d, f.path().display().to_string(), method, Some(data))
            } // f dropped here: closed or removed
            None => (d, String::new(), "none", None),
        }
    };
    println!("rc={}\nstatus={}\nstatus_name={}", d.status as i32, d.status.describe(), d.status);
    hex("arch", &d.key.key.arch);
    hex("distro", &d.key.key.distro);
    hex("version", &d.key.key.distro_version);
    hex("release", &d.key.key.release);
    let kernel = d.matched.as_ref().map(|m| m.1 as i64).unwrap_or(-1);
    println!("kernel={}\nexact={}\nmethod={}\npath={}", kernel, d.exact as i32, method, path);
    if let (Some(dump), Some(data)) = (dump, data) {
        std::fs::write(dump, data).expect("write the dump");
    }
    println!("released=1\nfds_leaked={}", count_fds() as i64 - fds_before as i64);
}
