//! What every eBPF object of this crate needs once: a panic handler (the verifier rejects
//! a program with a reachable panic, so it is never called) and the license section (GPL,
//! for the helpers that require it).

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
