//! LiteLLM's team listings, apart from HTTP: `GET /team/list` (every team, or a user's teams with
//! `user_id`) and `GET /v2/team/list` (filtered, sorted and paged:
//! `{"teams", "total", "page", "page_size", "total_pages"}`).
//!
//! Spend is read for the teams shown only (one read each), not for every team in the table.

use serde_json::{json, Value};

use super::{views, AdminError, KeyAdmin};
use crate::keys::Team;

/// `/v2/team/list`'s page size unless `page_size` is given, and the largest it may be
/// (LiteLLM's).
pub const DEFAULT_TEAM_PAGE_SIZE: usize = 10;
pub const MAX_TEAM_PAGE_SIZE: usize = 100;

/// What a team listing narrows the teams to; `None` is no condition.
#[derive(Debug, Default, Clone)]
pub struct TeamFilter {
    /// Teams with this user among `members_with_roles`.
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    /// Part of the alias, any case (LiteLLM's `team_alias` filter is a partial match).
    pub team_alias: Option<String>,
}

/// How `/v2/team/list` orders teams before paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TeamOrder {
    /// Oldest first (ties by id): the order teams were created in.
    #[default]
    CreatedAt,
    TeamId,
    TeamAlias,
}

impl TeamOrder {
    /// LiteLLM's `sort_by` values this gateway can order by; `None` for another.
    pub fn parse(sort_by: &str) -> Option<TeamOrder> {
        match sort_by {
            "created_at" => Some(TeamOrder::CreatedAt),
            "team_id" => Some(TeamOrder::TeamId),
            "team_alias" => Some(TeamOrder::TeamAlias),
            _ => None,
        }
    }
}

impl TeamFilter {
    fn matches(&self, team: &Team) -> bool {
        let member = |user: &String| {
            team.members_with_roles
                .iter()
                .any(|m| m.get("user_id").and_then(Value::as_str) == Some(user.as_str()))
        };
        self.user_id.as_ref().is_none_or(member)
            && self.team_id.as_ref().is_none_or(|id| *id == team.team_id)
            && self.team_alias.as_ref().is_none_or(|part| {
                team.team_alias
                    .as_ref()
                    .is_some_and(|alias| alias.to_lowercase().contains(&part.to_lowercase()))
            })
    }
}

impl KeyAdmin<'_> {
    /// `GET /team/list[?user_id=]`: every team (or the user's), as `/team/info` shows it.
    pub async fn list_teams(&self, filter: &TeamFilter) -> Result<Value, AdminError> {
        let teams = self
            .filtered_teams(filter, TeamOrder::CreatedAt, false)
            .await?;
        let mut list = Vec::with_capacity(teams.len());
        for team in &teams {
            list.push(self.team_view(team).await?);
        }
        Ok(Value::Array(list))
    }

    /// `GET /v2/team/list`: the filtered teams in `order` (`descending` reverses it), page
    /// `page` (from 1) of `page_size` (at most [`MAX_TEAM_PAGE_SIZE`]).
    pub async fn list_teams_page(
        &self,
        filter: &TeamFilter,
        order: TeamOrder,
        descending: bool,
        page: usize,
        page_size: usize,
    ) -> Result<Value, AdminError> {
        let teams = self.filtered_teams(filter, order, descending).await?;
        let total = teams.len();
        let page_size = page_size.clamp(1, MAX_TEAM_PAGE_SIZE);
        let page = page.max(1);
        let mut shown = Vec::new();
        for team in teams
            .iter()
            .skip((page - 1).saturating_mul(page_size))
            .take(page_size)
        {
            shown.push(self.team_view(team).await?);
        }
        Ok(json!({
            "teams": shown,
            "total": total,
            "page": page,
            "page_size": page_size,
            "total_pages": total.div_ceil(page_size),
        }))
    }

    async fn filtered_teams(
        &self,
        filter: &TeamFilter,
        order: TeamOrder,
        descending: bool,
    ) -> Result<Vec<Team>, AdminError> {
        let mut teams = self.store.list_teams().await?;
        teams.retain(|team| filter.matches(team));
        match order {
            TeamOrder::CreatedAt => {
                teams.sort_by(|a, b| (a.created_at, &a.team_id).cmp(&(b.created_at, &b.team_id)))
            }
            TeamOrder::TeamId => teams.sort_by(|a, b| a.team_id.cmp(&b.team_id)),
            TeamOrder::TeamAlias => {
                teams.sort_by(|a, b| (&a.team_alias, &a.team_id).cmp(&(&b.team_alias, &b.team_id)))
            }
        }
        if descending {
            teams.reverse();
        }
        Ok(teams)
    }

    async fn team_view(&self, team: &Team) -> Result<Value, AdminError> {
        let spend = self.team_spend(team).await?;
        Ok(views::team_info(team, spend, self.now))
    }
}
