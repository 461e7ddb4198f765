//! The kernel program loaded with its maps, not yet attached.

use aya::{
    Ebpf, EbpfLoader,
    programs::{SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use policer_common::{
    GLOBAL_SET_MASK, MAP_FLOWS, MAP_SLOT_KEYS4, MAP_SLOTS4, PROG_TC, PROG_XDP, Profile, SLOT_WAYS,
    slot_sets,
};

use crate::{
    EBPF_OBJECT,
    error::{Context as _, Error, Result},
    maps::Maps,
};

/// Which of the object's policing programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    Xdp,
    Tc,
}

/// The program loaded with its maps: what `attach` pins, and what tests and benchmarks run
/// frames through with `BPF_PROG_TEST_RUN`.
pub struct Loaded {
    ebpf: Ebpf,
    kind: ProgramKind,
    pub maps: Maps,
}

/// The size of `struct __sk_buff`, and where `gso_segs` and `gso_size` are in it (uapi
/// linux/bpf.h): BPF_PROG_TEST_RUN takes them from the context given to a TC program.
const SKB_CTX_LEN: usize = 192;
const SKB_GSO_SEGS: usize = 164;
const SKB_GSO_SIZE: usize = 176;

impl Loaded {
    /// Loads the program (the verifier checks it here) with `profile` in force.
    pub fn load(profile: &Profile, max_flows: u32, kind: ProgramKind) -> Result<Loaded> {
        if max_flows == 0 {
            return Err(Error::InvalidProfile("--max-flows must be at least 1".into()));
        }
        let mut loader = EbpfLoader::new();
        loader.map_max_entries(MAP_FLOWS, max_flows);
        let sets = slot_sets(max_flows);
        let set_mask = sets - 1;
        loader.map_max_entries(MAP_SLOT_KEYS4, sets);
        loader.map_max_entries(MAP_SLOTS4, sets * SLOT_WAYS);
        loader.override_global(GLOBAL_SET_MASK, &set_mask, true);
        let mut ebpf =
            loader.load(EBPF_OBJECT).context(|| "loading the policer's eBPF object".to_string())?;
        let mut maps = Maps::take_from(&mut ebpf)?;
        maps.store_profile(profile)?;
        let mut loaded = Loaded { ebpf, kind, maps };
        match kind {
            ProgramKind::Xdp => loaded.xdp()?.load(),
            ProgramKind::Tc => loaded.tc()?.load(),
        }
        .context(|| format!("loading the {kind:?} program (verifier)"))?;
        Ok(loaded)
    }

    pub fn kind(&self) -> ProgramKind {
        self.kind
    }

    fn program<T>(&mut self, name: &str) -> Result<&mut T>
    where
        for<'a> &'a mut T:
            TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
    {
        let program = self.ebpf.program_mut(name).ok_or_else(|| Error::Bpf {
            context: format!("the eBPF object has no program {name}"),
            source: "missing program".into(),
        })?;
        <&mut T>::try_from(program).context(|| format!("{name} is not of the expected type"))
    }

    pub fn xdp(&mut self) -> Result<&mut Xdp> {
        self.program(PROG_XDP)
    }

    pub fn tc(&mut self) -> Result<&mut SchedClassifier> {
        self.program(PROG_TC)
    }

    fn run(&mut self, opts: TestRunOptions<'_>) -> Result<aya::programs::TestRunResult> {
        match self.kind {
            ProgramKind::Xdp => self.xdp()?.test_run(opts),
            ProgramKind::Tc => self.tc()?.test_run(opts),
        }
        .context(|| "BPF_PROG_TEST_RUN".to_string())
    }

    /// Runs one frame through the program and returns its verdict (an XDP action, or a TC
    /// action) and the frame as the program left it (rewritten by an ECN or DSCP action).
    pub fn test_run_output(&mut self, frame: &[u8]) -> Result<(u32, Vec<u8>)> {
        self.test_run_segments(frame, 1, 0)
    }

    /// [`Loaded::test_run_output`] of a TC program with a GSO packet of `segments` segments
    /// of `segment_size` bytes (BPF_PROG_TEST_RUN passes them in the `__sk_buff`).
    pub fn test_run_segments(
        &mut self,
        frame: &[u8],
        segments: u32,
        segment_size: u32,
    ) -> Result<(u32, Vec<u8>)> {
        let mut ctx = [0u8; SKB_CTX_LEN];
        ctx[SKB_GSO_SEGS..SKB_GSO_SEGS + 4].copy_from_slice(&segments.to_ne_bytes());
        ctx[SKB_GSO_SIZE..SKB_GSO_SIZE + 4].copy_from_slice(&segment_size.to_ne_bytes());
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ctx_in: (self.kind == ProgramKind::Tc && segments > 1).then_some(&ctx[..]),
            ..Default::default()
        };
        let result = self.run(opts)?;
        out.truncate(result.data_size_out as usize);
        Ok((result.return_value, out))
    }

    /// Runs one frame through the program `repeat` times; returns the verdict and the mean
    /// run time in nanoseconds.
    pub fn test_run(&mut self, frame: &[u8], repeat: u32) -> Result<(u32, u64)> {
        let opts = TestRunOptions { data_in: Some(frame), repeat, ..Default::default() };
        let result = self.run(opts)?;
        Ok((result.return_value, result.duration.as_nanos() as u64))
    }
}
