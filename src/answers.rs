//! The agents' answers to one attempt, gathered in the order they were asked. When some agents
//! are slow, the answers already in are shown without waiting for them.

use std::sync::Arc;
use std::time::Duration;

use splice_protocol::{
    Call, DefinitionResult, FileResult, LoadedParams, PatchParams, Reason, Status,
};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::agents::AgentLink;
use crate::changes::SentDefinition;
use crate::patching::AgentOutcome;

/// One agent asked: what it was sent, and its answer to come.
pub type Task = (
    Arc<AgentLink>,
    Vec<SentDefinition>,
    JoinHandle<Result<serde_json::Value, String>>,
);

/// How long the first answers wait for the other agents before they are shown on their own.
pub const SHOWN_ALONE_AFTER: Duration = Duration::from_millis(300);

/// Waits for every answer, and returns them in the order of `tasks`. Once the first answer has
/// waited `SHOWN_ALONE_AFTER` for the others, and at every answer after that while some are
/// still missing, `answered_so_far` gets the answers in and the labels of the agents still
/// working.
pub async fn collect(
    tasks: Vec<Task>,
    mut answered_so_far: impl FnMut(Vec<AgentOutcome>, Vec<String>),
) -> Vec<AgentOutcome> {
    let labels: Vec<String> = tasks.iter().map(|(link, _, _)| link.label()).collect();
    let mut answers: Vec<Option<AgentOutcome>> = tasks.iter().map(|_| None).collect();
    let mut waiting = JoinSet::new();
    for (at, (link, sent, task)) in tasks.into_iter().enumerate() {
        waiting.spawn(async move { (at, outcome(&link, sent, task.await)) });
    }
    let mut show_at = None;
    let mut showing = false;
    loop {
        let next = match show_at {
            Some(deadline) if !showing => {
                tokio::time::timeout_at(deadline, waiting.join_next()).await
            }
            _ => Ok(waiting.join_next().await),
        };
        match next {
            Ok(None) => break,
            Ok(Some(Ok((at, outcome)))) => {
                answers[at] = Some(outcome);
                show_at.get_or_insert_with(|| Instant::now() + SHOWN_ALONE_AFTER);
                if !showing || waiting.is_empty() {
                    continue;
                }
            }
            // `outcome` does not panic: every task ends with its answer.
            Ok(Some(Err(_))) => continue,
            Err(_) => showing = true,
        }
        let missing = (answers.iter().zip(&labels))
            .filter(|(answer, _)| answer.is_none())
            .map(|(_, label)| label.clone())
            .collect();
        answered_so_far(answers.iter().flatten().cloned().collect(), missing);
    }
    answers.into_iter().flatten().collect()
}

fn outcome(
    link: &AgentLink,
    sent: Vec<SentDefinition>,
    joined: Result<Result<serde_json::Value, String>, tokio::task::JoinError>,
) -> AgentOutcome {
    let answer = match joined {
        Ok(answer) => answer,
        Err(err) => Err(format!("{}: {err}", link.label())),
    };
    let result = answer.and_then(|value| {
        serde_json::from_value::<FileResult>(value)
            .map_err(|err| format!("{}: unexpected answer: {err}", link.label()))
    });
    AgentOutcome {
        pid: link.pid(),
        label: link.label(),
        started_at: link.record.info.started_at,
        result,
        sent,
    }
}

/// Patches only if the program has loaded the file by now; else answers as it would, without
/// the file's text crossing the socket.
pub async fn patch_if_loaded(
    link: &AgentLink,
    params: PatchParams,
    qualnames: Vec<String>,
) -> Result<serde_json::Value, String> {
    let loaded = link
        .call(Call::Loaded(LoadedParams {
            path: params.path.clone(),
        }))
        .await?;
    let has_it = loaded["modules"].as_array().is_some_and(|m| !m.is_empty());
    if has_it {
        return link.call(Call::Patch(params)).await;
    }
    let message = format!("no module of this program is loaded from {}", params.path);
    let definitions: Vec<DefinitionResult> = qualnames
        .into_iter()
        .map(|qualname| DefinitionResult {
            qualname,
            status: Status::NotLoaded,
            reason: Reason::FileNotLoaded,
            message: message.clone(),
            span: None,
            live_functions: 0,
            still_running: Vec::new(),
        })
        .collect();
    let result = FileResult {
        path: params.path,
        modules: Vec::new(),
        definitions,
        notices: Vec::new(),
    };
    serde_json::to_value(result).map_err(|err| err.to_string())
}
