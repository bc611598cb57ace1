//! Giving back pages a long-lived process no longer needs. One binary serves five commands,
//! so a process maps a file of several MB of which its steady state needs a few pages;
//! starting up (argument parsing, the C library's and Rust's runtime setup) and bursts of
//! work touch many more, and the kernel maps the pages around each one it faults in
//! (fault-around). A container pays for every page its process has mapped. Used by the init
//! once its child runs, and by the watcher when it falls idle after work:
//! - the page-table entries of the binary's read-only segments (code and constants) are
//!   dropped: the pages stay in the page cache, and the process faults back in only what it
//!   uses (minor faults, no I/O);
//! - free heap memory goes back to the kernel (glibc keeps it otherwise).
//!
//! Nothing here changes what any memory holds: read-only file pages read the same from the
//! page cache when touched again.

use std::ffi::c_void;

use nix::libc;

/// Gives back the pages needed only to start or for a burst; see the module's documentation.
pub fn release_unneeded_pages() {
    // SAFETY: dl_iterate_phdr calls `drop_read_only_segments` with valid program headers of
    // each loaded object in turn; the callback stops after the first one (the executable).
    unsafe {
        libc::dl_iterate_phdr(Some(drop_read_only_segments), std::ptr::null_mut());
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory of the allocator to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// For the executable (the first object dl_iterate_phdr reports): MADV_DONTNEED on the whole
/// pages of every loadable segment that is not writable. Such pages are never written (no
/// relocation touches them: those go to the writable RELRO part), so dropping them from our
/// page tables loses nothing; writable segments (data, bss, relocated pointers) are left alone.
unsafe extern "C" fn drop_read_only_segments(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut c_void,
) -> libc::c_int {
    // SAFETY: the C library passes a valid dl_phdr_info whose dlpi_phdr points to dlpi_phnum
    // program headers, alive for the duration of the call.
    let (base, headers) = unsafe {
        let info = &*info;
        if info.dlpi_phdr.is_null() {
            return 1;
        }
        (
            info.dlpi_addr as usize,
            std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)),
        )
    };
    let page = page_size();
    for h in headers {
        if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
            continue;
        }
        // Whole pages inside the segment only: a page shared with a writable neighbour (it
        // cannot be, with different permissions, but nothing depends on that) is kept.
        let start = (base + h.p_vaddr as usize).next_multiple_of(page);
        let end = (base + (h.p_vaddr + h.p_memsz) as usize) / page * page;
        if end > start {
            // SAFETY: [start, end) lies in a read-only, file-backed mapping of the executable
            // that nothing writes; MADV_DONTNEED there only drops page-table entries, and the
            // next access reads the same bytes back from the page cache.
            unsafe {
                libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
    // The executable is the first object: stop.
    1
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}
