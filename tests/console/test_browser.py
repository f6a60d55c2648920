"""End to end in a real headless Chromium (Debian's package, driven by Playwright) against the
real stack: sign in with an API key, submit goals, watch them live, approve from the inbox,
and check tenant isolation. Screenshots of every page go to ``test-artifacts/console/``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from consolekit import Stack
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from omnihub.auth import Role
from omnihub.events import CacheDetails, GoalReceived, NewEvent, PlanGenerated
from omnihub.plans import PlanStep

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LIVE_TIMEOUT_MS = 30_000
# Injected by the browser itself (not subject to the page's CSP): records every blocked load
# or inline script/style, so a test can show the console works under its strict policy.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium (``make browser`` installs it); the screenshot folder exists."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make browser` (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=FLAGS)
        yield launched
        await launched.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def nav(page: Page, name: str) -> Locator:
    """A link of the console's main navigation."""
    return page.get_by_role("navigation", name="Console sections").get_by_role(
        "link", name=name, exact=True
    )


async def sign_in(browser: Browser, stack: Stack, key: str) -> Page:
    """A new browser context signed in with ``key``, using the keyboard only."""
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    await context.add_init_script(CSP_WATCH)
    page = await context.new_page()
    await page.goto(f"{stack.base_url}/console/goals")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await expect(page.get_by_label("API key")).to_be_focused()
    await page.keyboard.type(key)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/console/goals$"))
    return page


async def test_operator_submits_watches_approves_and_sees_the_goal_finish(
    stack: Stack, browser: Browser
) -> None:
    page = await sign_in(browser, stack, stack.key("acme"))
    await expect(page.get_by_role("heading", name="Goals")).to_be_visible()
    await shot(page, "goals-empty")

    # A goal submitted elsewhere shows up in the open table without a reload.
    other = await page.context.new_page()
    await other.goto(f"{stack.base_url}/console/submit")
    await other.get_by_label("Goal").fill("check the stock of blue mugs")
    await shot(other, "submit")
    await other.get_by_role("button", name="Submit").click()
    await expect(other).to_have_url(re.compile(r"/console/goals/[0-9a-f-]{36}"))
    first_id = other.url.rsplit("/", 1)[1].split("?")[0]
    await expect(page.locator(f'tr[data-goal-id="{first_id}"]')).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )
    await expect(other.locator("#goal-status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    await other.close()

    # Submit a goal that needs an approval and follow it live.
    await nav(page, "Submit a goal").click()
    await page.get_by_label("Goal").fill("book a hotel in Paris and approve the payment")
    await page.get_by_label("Context").fill('{"city": "Paris"}')
    await page.get_by_role("button", name="Submit").click()
    await expect(page).to_have_url(re.compile(r"/console/goals/[0-9a-f-]{36}"))
    goal_id = page.url.rsplit("/", 1)[1].split("?")[0]
    timeline = page.locator("#timeline")
    await expect(timeline.locator("li", has_text="ApprovalRequested")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )
    await expect(page.locator("#goal-status")).to_have_text(
        "awaiting approval", timeout=LIVE_TIMEOUT_MS
    )
    await expect(page.locator('svg.dag g.node[data-step="pay"]')).to_have_class(
        re.compile("s-awaiting_approval")
    )
    await expect(page.locator('svg.dag g.node[data-step="reserve"]')).to_have_class(
        re.compile("s-completed")
    )
    await expect(page.locator("#audit")).to_have_text("verified")
    await shot(page, "goal-awaiting-approval")

    # A second operator approves from the inbox, with the keyboard, in another browser (the
    # submitter may not approve its own goal); the goal's page stays open.
    inbox = await sign_in(browser, stack, stack.key("acme"))
    await inbox.goto(f"{stack.base_url}/console/approvals")
    card = inbox.locator(f'article[data-goal-id="{goal_id}"]')
    await expect(card.get_by_text("red lane")).to_be_visible()
    await expect(card.locator("pre.json")).to_contain_text('"sku": "payment"')
    await shot(inbox, "approvals")
    await card.get_by_label("Reason").fill("budget checked")
    await inbox.keyboard.press("Tab")
    await expect(card.get_by_role("button", name="Approve")).to_be_focused()
    await inbox.keyboard.press("Enter")
    await expect(inbox).to_have_url(re.compile(r"/console/approvals\?decided=pay"))
    await expect(inbox.get_by_text("Nothing waits for approval")).to_be_visible()
    await inbox.context.close()

    # Without a reload, the open goal page receives the rest over SSE (entries the script
    # adds are marked "fresh") and its plan and steps refresh to the end state.
    await expect(timeline.locator("li.fresh.ev-GoalCompleted")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )
    await expect(timeline.locator("li.fresh.ev-ApprovalGranted")).to_contain_text("budget checked")
    await expect(page.locator("#goal-status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    await expect(page.locator("#stream-state")).to_have_text("finished")
    await expect(page.locator('svg.dag g.node[data-step="pay"]')).to_have_class(
        re.compile("s-completed")
    )
    await expect(page.locator('tr[data-step="pay"]')).to_contain_text("by key:")
    await page.wait_for_timeout(1300)  # let the highlight of new entries fade
    await shot(page, "goal-completed")

    await nav(page, "Goals").click()
    await page.get_by_label("Status").select_option("completed")
    await expect(page).to_have_url(re.compile(r"status=completed"))
    await expect(page.locator("tbody tr")).to_have_count(2)
    await shot(page, "goals")

    # Two earlier goals whose plans came from the plan cache (as the planner records them).
    for n, template in enumerate(["book hotel in {city}", "book hotel in {city}", "pay {x}"]):
        stack.store.append(
            "acme",
            f"earlier-{n}",
            [
                NewEvent(payload=GoalReceived(goal=f"earlier goal {n}", user_id="u")),
                NewEvent(
                    payload=PlanGenerated(
                        plan_id=f"p{n}",
                        source="cache",
                        steps=[PlanStep(id="s", tool="respond_to_user")],
                        cache=CacheDetails(template=template, similarity=0.95, saved_tokens=420),  # type: ignore[call-arg]
                    )
                ),
            ],
        )
    await nav(page, "Cache & cost").click()
    await expect(page.locator("#hit-chart canvas")).to_be_visible()
    await expect(page.get_by_text("plans (3 from the cache)")).to_be_visible()
    await expect(page.locator("#hit-rate")).to_have_text("60%")
    await expect(page.get_by_role("cell", name="book hotel in {city}")).to_be_visible()
    await shot(page, "cache")
    # htmx, uPlot and console.js all ran under the console's CSP, and nothing was blocked.
    assert await page.evaluate("typeof window.htmx") == "object"
    assert await page.evaluate("window.__cspViolations") == []
    assert (
        "script-src 'self'" in (await page.request.get(page.url)).headers["content-security-policy"]
    )


async def test_live_timeline_and_compensations_of_a_failing_goal(
    stack: Stack, browser: Browser
) -> None:
    page = await sign_in(browser, stack, stack.key("acme"))
    await nav(page, "Submit a goal").click()
    await page.get_by_label("Goal").fill("order a desk and fail the payment")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.locator("#goal-status")).to_have_text("failed", timeout=LIVE_TIMEOUT_MS)
    # Entries that arrived after the page loaded were added by the SSE client.
    await expect(page.locator("#timeline li.ev-GoalFailed")).to_be_visible()
    await expect(page.locator("#stream-state")).to_have_text("finished")
    compensations = page.locator("ol.comps li")
    await expect(compensations).to_have_count(1)
    await expect(compensations.nth(0)).to_contain_text("database_delete undid reserve")
    await expect(page.locator('svg.dag g.node[data-step="charge"]')).to_have_class(
        re.compile("s-failed")
    )
    await expect(page.locator('tr[data-step="charge"]')).to_contain_text("card declined")
    await shot(page, "goal-failed-compensated")


async def test_other_tenants_goals_are_invisible_and_viewers_only_read(
    stack: Stack, browser: Browser
) -> None:
    acme = await sign_in(browser, stack, stack.key("acme"))
    await nav(acme, "Submit a goal").click()
    await acme.get_by_label("Goal").fill("pay the supplier, approve first")
    await acme.get_by_role("button", name="Submit").click()
    await expect(acme.locator("#goal-status")).to_have_text(
        "awaiting approval", timeout=LIVE_TIMEOUT_MS
    )
    goal_id = acme.url.rsplit("/", 1)[1].split("?")[0]

    globex = await sign_in(browser, stack, stack.key("globex"))
    await expect(globex.get_by_test_id("tenant")).to_have_text("globex")
    await expect(globex.get_by_text("No goals yet")).to_be_visible()
    await nav(globex, "Approvals").click()
    await expect(globex.get_by_text("Nothing waits for approval")).to_be_visible()
    response = await globex.goto(f"{stack.base_url}/console/goals/{goal_id}")
    assert response is not None
    assert response.status == 404
    await shot(globex, "other-tenant-approvals")

    viewer = await sign_in(browser, stack, stack.key("acme", Role.VIEWER))
    await expect(nav(viewer, "Submit a goal")).to_have_count(0)
    await nav(viewer, "Approvals").click()
    card = viewer.locator(f'article[data-goal-id="{goal_id}"]')
    await expect(card).to_be_visible()
    await expect(card.get_by_role("button")).to_have_count(0)
    await expect(viewer.get_by_text("can read this inbox but not decide")).to_be_visible()
    await shot(viewer, "approvals-viewer")

    await viewer.get_by_role("button", name="Sign out").click()
    await expect(viewer).to_have_url(re.compile(r"/console/login$"))
    await shot(viewer, "login")
