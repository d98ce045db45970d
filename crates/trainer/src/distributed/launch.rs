//! How this process was started: alone, or as one rank of a job by `torchrun` (or any
//! launcher that sets the same variables as PyTorch's `env://` rendezvous).

use crate::error::{Error, Result};

/// One process of a data-parallel job, as its environment describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// `RANK`: this process, 0 to `world - 1`; rank 0 writes the run folder.
    pub rank: usize,
    /// `WORLD_SIZE`: the job's processes.
    pub world: usize,
    /// `LOCAL_RANK`: this process on its machine, which picks its GPU (torchrun sets it).
    pub local_rank: Option<usize>,
    /// `MASTER_ADDR`/`MASTER_PORT`: where the job's TCPStore is.
    pub master_addr: String,
    pub master_port: u16,
    /// `TORCHELASTIC_USE_AGENT_STORE=True`: torchrun's agent hosts the store and every rank is
    /// a client of it; otherwise rank 0 starts it (as `torch.distributed`'s `env://` does).
    pub agent_store: bool,
    /// `TORCHELASTIC_RESTART_COUNT`: an elastic restart's attempt, so that the trainer's own
    /// keys of one attempt never meet another's in a store that outlives them.
    pub attempt: u32,
}

impl Launch {
    /// The launch the environment describes; `None` for a single process (no `RANK` and no
    /// `WORLD_SIZE`, or a world of one), which trains exactly as without a launcher.
    pub fn from_env() -> Result<Option<Launch>> {
        Launch::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Launch::from_env`] over any source of variables (`get` returns a variable's value).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        let (rank, world) = (get("RANK"), get("WORLD_SIZE"));
        if rank.is_none() && world.is_none() {
            return Ok(None);
        }
        let required = |name: &'static str| {
            get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                Error::flag(
                    name,
                    "is not set; a data-parallel job needs RANK, WORLD_SIZE, MASTER_ADDR and \
                     MASTER_PORT (torchrun sets them all)",
                )
            })
        };
        let world: usize = number("WORLD_SIZE", &required("WORLD_SIZE")?)?;
        if world == 0 {
            return Err(Error::flag("WORLD_SIZE", "must be at least 1"));
        }
        let rank: usize = number("RANK", &required("RANK")?)?;
        if rank >= world {
            return Err(Error::flag(
                "RANK",
                format!(
                    "is {rank}, but ranks of a world of {world} run from 0 to {}",
                    world - 1
                ),
            ));
        }
        if world == 1 {
            return Ok(None);
        }
        let local_rank = get("LOCAL_RANK")
            .map(|v| number::<usize>("LOCAL_RANK", &v))
            .transpose()?;
        Ok(Some(Launch {
            rank,
            world,
            local_rank,
            master_addr: required("MASTER_ADDR")?,
            master_port: number("MASTER_PORT", &required("MASTER_PORT")?)?,
            agent_store: get("TORCHELASTIC_USE_AGENT_STORE").as_deref() == Some("True"),
            attempt: match get("TORCHELASTIC_RESTART_COUNT") {
                Some(v) => number("TORCHELASTIC_RESTART_COUNT", &v)?,
                None => 0,
            },
        }))
    }

    /// Whether this process starts the job's store (and so must outlive the others' use of
    /// it): rank 0, unless torchrun's agent hosts it.
    pub fn hosts_store(&self) -> bool {
        self.rank == 0 && !self.agent_store
    }

    /// Who hosts the store, for a message about losing it.
    pub fn store_host(&self) -> String {
        let at = format!("{}:{}", self.master_addr, self.master_port);
        if self.agent_store {
            format!("torchrun's agent on the first machine ({at}), which hosts the job's store")
        } else {
            format!("rank 0, which hosts the job's store ({at})")
        }
    }
}

fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        Error::flag(
            name,
            format!("must be a whole number (a port for MASTER_PORT), got {value:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>> {
        Launch::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    const JOB: [(&str, &str); 4] = [
        ("RANK", "1"),
        ("WORLD_SIZE", "2"),
        ("MASTER_ADDR", "node0"),
        ("MASTER_PORT", "29500"),
    ];

    #[test]
    fn no_variables_or_a_world_of_one_is_a_single_process() {
        assert_eq!(launch(&[]).unwrap(), None);
        assert_eq!(launch(&[("RANK", "0"), ("WORLD_SIZE", "1")]).unwrap(), None);
    }

    #[test]
    fn plain_variables_make_rank_0_the_store_host() {
        let l = launch(&JOB).unwrap().unwrap();
        assert_eq!((l.rank, l.world, l.local_rank), (1, 2, None));
        assert_eq!((l.master_addr.as_str(), l.master_port), ("node0", 29500));
        assert!(!l.agent_store && !l.hosts_store());
        let mut zero = JOB.to_vec();
        zero[0] = ("RANK", "0");
        assert!(launch(&zero).unwrap().unwrap().hosts_store());
    }

    #[test]
    fn torchrun_variables_make_every_rank_a_client_of_the_agent() {
        let mut vars = JOB.to_vec();
        vars.extend([
            ("RANK", "0"),
            ("LOCAL_RANK", "0"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ]);
        vars.remove(0);
        let l = launch(&vars).unwrap().unwrap();
        assert!(l.agent_store && !l.hosts_store());
        assert_eq!((l.local_rank, l.attempt), (Some(0), 2));
    }

    #[test]
    fn bad_variables_are_named() {
        let msg = |vars: &[(&str, &str)]| launch(vars).unwrap_err().to_string();
        assert!(msg(&[("RANK", "0")]).starts_with("WORLD_SIZE: is not set"));
        assert!(msg(&[("RANK", "2"), ("WORLD_SIZE", "2")]).contains("from 0 to 1"));
        assert!(msg(&[("RANK", "x"), ("WORLD_SIZE", "2")]).starts_with("RANK: must be"));
        assert!(msg(&JOB[..3]).starts_with("MASTER_PORT: is not set"));
        let mut vars = JOB.to_vec();
        vars[3] = ("MASTER_PORT", "70000");
        assert!(msg(&vars).starts_with("MASTER_PORT: must be"));
    }
}
