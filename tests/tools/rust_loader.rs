// A Rust loader for the btfembed tests, calling libbpf through its C API
// (no crates; link -lbpf): btf_path() of the generated module gives the
// btf_custom_path, libbpf loads the CO-RE program with it, the program is
// attached to raw_tp/sys_enter, and what it read from task_struct is
// printed (the output format of examples/c-loader/loader.c).
//
// usage: loader [--force] [--no-memfd] OBJECT
mod btfembed_e2e;

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};

#[repr(C)]
struct Object {
    _private: [u8; 0],
}

// struct bpf_object_open_opts up to btf_custom_path: libbpf reads sz bytes
// and treats the fields after them as zero.
#[repr(C)]
struct OpenOpts {
    sz: usize,
    object_name: *const c_char,
    relaxed_maps: bool,
    pin_root_path: *const c_char,
    _removed_attach_prog_fd: u32,
    kconfig: *const c_char,
    btf_custom_path: *const c_char,
}

#[link(name = "bpf")]
extern "C" {
    fn bpf_object__open_file(path: *const c_char, opts: *const OpenOpts) -> *mut Object;
    fn bpf_object__load(obj: *mut Object) -> c_int;
    fn bpf_object__close(obj: *mut Object);
    fn bpf_object__find_program_by_name(obj: *const Object, name: *const c_char) -> *mut c_void;
    fn bpf_object__find_map_fd_by_name(obj: *const Object, name: *const c_char) -> c_int;
    fn bpf_program__attach(prog: *const c_void) -> *mut c_void;
    fn bpf_link__destroy(link: *mut c_void) -> c_int;
    fn bpf_map_update_elem(fd: c_int, key: *const c_void, value: *const c_void, flags: u64) -> c_int;
    fn bpf_map_lookup_elem(fd: c_int, key: *const c_void, value: *mut c_void) -> c_int;
}

fn fail(msg: String) -> ! {
    eprintln!("{}", msg);
    std::process::exit(1)
}

fn printable(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take_while(|&&c| c != 0) {
        if c > b' ' && c < 0x7f && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{:02x}", c));
        }
    }
    s
}

fn main() {
    let mut opts = btfembed_e2e::Options::default();
    let mut object = String::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--force" => opts.force = true,
            "--no-memfd" => opts.no_memfd = true,
            _ if a.starts_with('-') => fail("usage: loader [--force] [--no-memfd] OBJECT".to_string()),
            _ => object = a,
        }
    }
    let (d, file) = btfembed_e2e::btf_path(&opts).unwrap_or_else(|e| fail(format!("btfembed: {}", e)));
    let path = file.as_ref().map(|f| f.path().display().to_string());
    println!(
        "btfembed: status={} key={} exact={} path={}",
        d.status,
        d.key.key,
        d.exact,
        path.clone().unwrap_or_else(|| "(none)".to_string())
    );
    let c_path = path.map(|p| CString::new(p).unwrap());
    let open_opts = OpenOpts {
        sz: std::mem::size_of::<OpenOpts>(),
        object_name: std::ptr::null(),
        relaxed_maps: false,
        pin_root_path: std::ptr::null(),
        _removed_attach_prog_fd: 0,
        kconfig: std::ptr::null(),
        btf_custom_path: c_path.as_ref().map(|p| p.as_ptr()).unwrap_or(std::ptr::null()),
    };
    let c_object = CString::new(object.clone()).unwrap();
    unsafe {
        let obj = bpf_object__open_file(c_object.as_ptr(), &open_opts);
        if obj.is_null() {
            fail(format!("cannot open {}: {}", object, std::io::Error::last_os_error()));
        }
        let rc = bpf_object__load(obj);
        drop(file); // libbpf has read the BTF (CO-RE relocation happens in load)
        if rc != 0 {
            fail(format!("cannot load {}: {}", object, std::io::Error::from_raw_os_error(-rc)));
        }
        let name = |s: &str| CString::new(s).unwrap();
        let prog = bpf_object__find_program_by_name(obj, name("report_task").as_ptr());
        let target = bpf_object__find_map_fd_by_name(obj, name("target").as_ptr());
        let report = bpf_object__find_map_fd_by_name(obj, name("report").as_ptr());
        if prog.is_null() || target < 0 || report < 0 {
            fail(format!("{}: program or maps missing", object));
        }
        let link = bpf_program__attach(prog);
        if link.is_null() {
            fail(format!("cannot attach: {}", std::io::Error::last_os_error()));
        }
        let zero: u32 = 0;
        let me: u32 = std::process::id();
        if bpf_map_update_elem(target, &zero as *const u32 as *const c_void, &me as *const u32 as *const c_void, 0) != 0 {
            fail(format!("cannot set the target: {}", std::io::Error::last_os_error()));
        }
        for _ in 0..3 {
            let _ = std::os::unix::process::parent_id(); // a system call
        }
        let mut rep = [0u8; 32];
        if bpf_map_lookup_elem(report, &zero as *const u32 as *const c_void, rep.as_mut_ptr() as *mut c_void) != 0 {
            fail(format!("cannot read the report: {}", std::io::Error::last_os_error()));
        }
        let u = |i: usize| u32::from_le_bytes([rep[i], rep[i + 1], rep[i + 2], rep[i + 3]]);
        println!("report: pid={} tgid={} ppid={} comm={} hits={}", u(0), u(4), u(8), printable(&rep[16..]), u(12));
        bpf_link__destroy(link);
        bpf_object__close(obj);
        if u(12) == 0 {
            std::process::exit(3);
        }
    }
}
