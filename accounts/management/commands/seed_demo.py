"""`python manage.py seed_demo [--seed N] [--scale small|large]`: a realistic demo company.

Creates the teams, skills, business hours and Colombian national holidays of a Spanish-speaking contact
center, its people (one user per role plus agents) and 90 days of availability history, in one transaction.

Deterministic: every random choice comes from `random.Random` instances derived from `--seed` (never from
Faker or the global `random` state), so the same seed gives the same names, teams, skills and availability.
Timestamps of the history are relative to "now" (the last 90 days), so they move with the day it is run.

Idempotent: when the user `admin` exists the command prints "demo data already present" and changes nothing.

Extension point: `SEEDERS` is the ordered list of `(rng, scale, stdout) -> None` callables run after each
other inside the transaction; the accounts seeder is first. An app that later adds demo data (customers,
products, conversations) appends its seeder, either here or from its `AppConfig.ready()`:

    from accounts.management.commands.seed_demo import SEEDERS
    SEEDERS.append(seed_crm_demo)

Each seeder gets its own `random.Random` derived from the seed and the seeder's qualified name, so adding
or changing one seeder never reshuffles the data of another.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.actions import do_create_user
from accounts.choices import Availability, Language, Weekday
from accounts.models import AvailabilityEvent, BusinessHours, Holiday, Skill, Team, User
from accounts.roles import Role
from core import audit
from core.request_context import RequestOrigin, reset_origin, set_origin
from inbox import outbound
from realtime.events import muted

DEMO_PASSWORD: Final = "centralita2026"  # noqa: S105 - the documented demo login, printed on purpose
EMAIL_DOMAIN: Final = "demo.centralita.example"
HISTORY_DAYS: Final = 90
AGENTS_BY_SCALE: Final[dict[str, int]] = {"small": 8, "large": 200}

Scale = Literal["small", "large"]
Seeder = Callable[[random.Random, str, OutputWrapper], None]

# --- the company --------------------------------------------------------------------------------------

TEAMS: Final = [
    ("ventas", "Ventas", "Asesoría comercial, cotizaciones y cierre de ventas."),
    ("marketing", "Marketing", "Campañas, promociones y atención de prospectos."),
    ("soporte", "Servicio y Soporte", "Soporte técnico, postventa, garantías y reclamos."),
    ("supervision", "Supervisión", "Coordinación y seguimiento de los equipos de atención."),
]
AGENT_TEAMS: Final = ("ventas", "marketing", "soporte")
SENIOR_AGENTS: Final = 2  # agente1 and agente2: the VIPs' first choice
SKILLS: Final = [
    ("ventas", "Ventas"),
    ("soporte", "Soporte técnico"),
    ("reclamos", "Reclamos y PQR"),
    ("marketing", "Marketing"),
    ("senior", "Senior"),  # the VIP segment sends its customers to these agents first (customers 0007 creates it)
]
# The skills an agent of each team always has, and the ones they may add.
TEAM_SKILLS: Final[dict[str, tuple[str, ...]]] = {"ventas": ("ventas",), "marketing": ("marketing",),
                                                  "soporte": ("soporte",)}
EXTRA_SKILLS: Final[dict[str, tuple[str, ...]]] = {"ventas": ("marketing", "reclamos"),
                                                   "marketing": ("ventas",), "soporte": ("reclamos", "ventas")}
WEEKDAY_HOURS: Final = (time(8, 0), time(18, 0))
SATURDAY_HOURS: Final = (time(9, 0), time(13, 0))

# Colombian national holidays (Ley Emiliani: several move to the following Monday).
HOLIDAYS: Final = [
    (date(2026, 1, 1), "Año Nuevo"),
    (date(2026, 1, 12), "Reyes Magos"),
    (date(2026, 3, 23), "San José"),
    (date(2026, 4, 2), "Jueves Santo"),
    (date(2026, 4, 3), "Viernes Santo"),
    (date(2026, 5, 1), "Día del Trabajo"),
    (date(2026, 5, 18), "Ascensión del Señor"),
    (date(2026, 6, 8), "Corpus Christi"),
    (date(2026, 6, 15), "Sagrado Corazón"),
    (date(2026, 6, 29), "San Pedro y San Pablo"),
    (date(2026, 7, 20), "Día de la Independencia"),
    (date(2026, 8, 7), "Batalla de Boyacá"),
    (date(2026, 8, 17), "Asunción de la Virgen"),
    (date(2026, 10, 12), "Día de la Raza"),
    (date(2026, 11, 2), "Todos los Santos"),
    (date(2026, 11, 16), "Independencia de Cartagena"),
    (date(2026, 12, 8), "Inmaculada Concepción"),
    (date(2026, 12, 25), "Navidad"),
    (date(2027, 1, 1), "Año Nuevo"),
    (date(2027, 1, 11), "Reyes Magos"),
    (date(2027, 3, 22), "San José"),
    (date(2027, 3, 25), "Jueves Santo"),
    (date(2027, 3, 26), "Viernes Santo"),
    (date(2027, 5, 1), "Día del Trabajo"),
    (date(2027, 5, 10), "Ascensión del Señor"),
    (date(2027, 5, 31), "Corpus Christi"),
    (date(2027, 6, 7), "Sagrado Corazón"),
    (date(2027, 7, 5), "San Pedro y San Pablo"),
    (date(2027, 7, 20), "Día de la Independencia"),
    (date(2027, 8, 7), "Batalla de Boyacá"),
    (date(2027, 8, 16), "Asunción de la Virgen"),
    (date(2027, 10, 18), "Día de la Raza"),
    (date(2027, 11, 1), "Todos los Santos"),
    (date(2027, 11, 15), "Independencia de Cartagena"),
    (date(2027, 12, 8), "Inmaculada Concepción"),
    (date(2027, 12, 25), "Navidad"),
]

# (username, role, team codes, skill codes, female name? None: either) of the staff who are not agents.
STAFF: Final[list[tuple[str, Role, tuple[str, ...], tuple[str, ...], bool | None]]] = [
    ("admin", Role.ADMIN, (), (), None),
    ("gerente", Role.GERENTE, (), (), None),
    ("supervisora", Role.SUPERVISOR, ("supervision", "soporte"), ("soporte", "reclamos"), True),
    ("director", Role.DIRECTOR_VENTAS, ("ventas",), ("ventas",), None),
    ("analista", Role.ANALISTA, (), (), None),
]

# --- names (Colombia, México, Perú) ---------------------------------------------------------------------

FEMALE_NAMES: Final = (
    "Valentina", "Sofía", "Camila", "Mariana", "Daniela", "Isabella", "Luciana", "Gabriela", "Natalia",
    "María José", "María Fernanda", "Ana María", "Laura", "Paola", "Catalina", "Lucía", "Ximena", "Guadalupe",
    "Itzel", "Citlali", "Yadira", "Ángela", "Mónica", "Verónica", "Inés", "Belén", "Rocío", "Yuliana",
    "Leidy Johana", "Nataly", "Milagros", "Rosario", "Fiorella", "Maricielo", "Úrsula", "Begoña", "Nidia",
    "Luz Marina", "Sandra Milena", "Diana Carolina", "Fernanda", "Montserrat", "Alejandra", "Julieta",
)
MALE_NAMES: Final = (
    "Santiago", "Sebastián", "Matías", "Nicolás", "Alejandro", "Samuel", "Julián", "Andrés Felipe",
    "Juan Sebastián", "Juan Pablo", "Juan David", "Carlos Andrés", "José Luis", "Jesús", "Martín", "Tomás",
    "Emiliano", "Diego", "Héctor", "Raúl", "Óscar", "Iván", "Rubén", "Germán", "Joaquín", "Ramón", "Efraín",
    "Jhon Jairo", "Wílmar", "Édgar", "Piero", "Renzo", "Gonzalo", "César", "Álvaro", "Hernán", "Íñigo",
    "Fabián", "Cristian Camilo", "Luis Fernando", "Mauricio", "Ulises", "Octavio",
)
SURNAMES: Final = (
    "Rodríguez", "Gómez", "Martínez", "López", "González", "Hernández", "García", "Pérez", "Ramírez",
    "Sánchez", "Díaz", "Muñoz", "Rojas", "Moreno", "Jiménez", "Vargas", "Castro", "Ortiz", "Gutiérrez",
    "Ospina", "Restrepo", "Londoño", "Quintero", "Zuluaga", "Castaño", "Cárdenas", "Peña", "Ibáñez",
    "Zúñiga", "Avendaño", "Saldaña", "Montaño", "Núñez", "Bolaños", "Patiño", "Cañón", "Villaseñor",
    "Chávez", "Ávila", "Domínguez", "Ruiz", "Valdés", "Guzmán", "Quiñones", "Orozco", "Mendoza", "Ochoa",
    "Quispe", "Mamani", "Huamán", "Flores", "Condori", "Paredes", "Salazar", "Cáceres", "Vásquez", "Tapia",
    "Espinoza", "Saavedra", "Villanueva", "Carreño", "Echeverría", "Arango", "Beltrán", "Maldonado",
)

# --- presence ---------------------------------------------------------------------------------------------

# Mostly offline, a few online: the agents' current availability is drawn with these weights.
CURRENT_STATES: Final = (Availability.OFFLINE, Availability.AVAILABLE, Availability.BUSY, Availability.AWAY)
CURRENT_WEIGHTS: Final = (60, 20, 12, 8)
# Shifts agents work on weekdays (start, end); Saturdays everyone who works them does SATURDAY_HOURS.
SHIFTS: Final = ((time(8, 0), time(17, 0)), (time(8, 0), time(14, 0)), (time(12, 0), time(18, 0)))
DAY_OFF_CHANCE: Final = 0.07  # sick days, vacations, training
MAX_BREAKS: Final = 2  # each break is two events, plus login and logout: at most 6 events a day


@dataclass
class Person:
    username: str
    role: Role
    full_name: str
    email: str
    teams: tuple[str, ...]
    skills: tuple[str, ...]
    availability: Availability = Availability.OFFLINE
    capacity: int = 8
    language: str = Language.ES
    shift: tuple[time, time] = SHIFTS[0]
    works_saturday: bool = False
    has_history: bool = False
    history_key: str = ""
    events: list[AvailabilityEvent] = field(default_factory=list)


class _Names:
    """Unique LatAm full names (first name(s) + paternal + maternal surname) and matching e-mail addresses."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.full_names: set[str] = set()
        self.emails: set[str] = set()

    def person(self, female: bool | None = None) -> tuple[str, str]:
        rng = self.rng
        if female is None:
            female = rng.random() < 0.5
        while True:
            first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
            paternal, maternal = rng.sample(SURNAMES, 2)
            full_name = f"{first} {paternal} {maternal}"
            if full_name not in self.full_names:
                break
        self.full_names.add(full_name)
        local = slugify(f"{first.split()[0]} {paternal}").replace("-", ".")
        email, n = f"{local}@{EMAIL_DOMAIN}", 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{EMAIL_DOMAIN}"
        self.emails.add(email)
        return full_name, email


def _people(rng: random.Random, agents: int) -> list[Person]:
    """Everyone, drawn in a fixed order so agente1..agente8 are the same at every scale."""
    history_base = rng.getrandbits(64)
    names = _Names(rng)
    people = []
    for username, role, teams, skills, female in STAFF:
        full_name, email = names.person(female)
        people.append(Person(username, role, full_name, email, teams, skills))
    team_cycle = rng.sample(AGENT_TEAMS, len(AGENT_TEAMS))  # spreads agents evenly over the three teams
    for i in range(1, agents + 1):
        full_name, email = names.person()
        team = team_cycle[(i - 1) % len(team_cycle)]
        teams = (team, *(rng.sample([t for t in AGENT_TEAMS if t != team], 1) if rng.random() < 0.2 else ()))
        agent_skills = set(TEAM_SKILLS[team])
        agent_skills.update(s for s in EXTRA_SKILLS[team] if rng.random() < 0.3)
        if i <= SENIOR_AGENTS:
            agent_skills.add("senior")
        people.append(Person(
            f"agente{i}", Role.AGENTE, full_name, email, teams, tuple(sorted(agent_skills)),
            availability=rng.choices(CURRENT_STATES, CURRENT_WEIGHTS)[0],
            capacity=rng.choice((4, 6, 8, 8, 8, 10)),
            language=Language.EN if rng.random() < 0.05 else Language.ES,
            shift=rng.choice(SHIFTS),
            works_saturday=rng.random() < 0.4,
            has_history=True,
        ))
    supervisora = next(p for p in people if p.username == "supervisora")
    supervisora.availability, supervisora.has_history = Availability.AVAILABLE, True
    for p in people:  # each person's history has its own generator: it doesn't shift the others
        p.history_key = f"{history_base}:{p.username}"
    return people


# --- availability history ------------------------------------------------------------------------------


def _at(day: date, t: time, tz: tzinfo, minutes: int = 0) -> datetime:
    return datetime.combine(day, t, tzinfo=tz) + timedelta(minutes=minutes)


def _history(person: Person, user: User, now: datetime, closed: set[date]) -> None:
    """A few login / break / logout transitions per working day for the last HISTORY_DAYS days, then the
    transitions that lead to the person's current state today. Fills person.events, oldest first."""
    rng = random.Random(person.history_key)  # noqa: S311 - demo data, reproducibility wanted, not secrecy
    tz = timezone.get_current_timezone()
    today = timezone.localtime(now).date()
    events = person.events
    state = Availability.OFFLINE

    def move(to: Availability, when: datetime) -> None:
        nonlocal state
        events.append(AvailabilityEvent(user=user, from_state=state, to_state=to, acting_user=user,
                                        created_at=when))
        state = to

    for back in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=back)
        if day in closed or day.weekday() == Weekday.SUNDAY:
            continue
        if day.weekday() == Weekday.SATURDAY:
            if not person.works_saturday:
                continue
            opens, closes = SATURDAY_HOURS
        else:
            opens, closes = person.shift
        if rng.random() < DAY_OFF_CHANCE:
            continue
        start = _at(day, opens, tz, rng.randint(-10, 20))
        end = _at(day, closes, tz, rng.randint(-5, 25))
        span = int((end - start).total_seconds() // 60)
        breaks = rng.choice(range(MAX_BREAKS + 1))
        points = sorted(rng.sample(range(15, span - 15), 2 * breaks))
        move(Availability.AVAILABLE, start)
        for j in range(breaks):
            move(rng.choice((Availability.BUSY, Availability.AWAY)), start + timedelta(minutes=points[2 * j]))
            move(Availability.AVAILABLE, start + timedelta(minutes=points[2 * j + 1]))
        move(Availability.OFFLINE, end)

    if person.availability != Availability.OFFLINE:
        # Logged in 20-180 minutes ago, but not before today's midnight (yesterday already had its day).
        since_midnight = now - _at(today, time(0), tz)
        session = min(timedelta(minutes=rng.randint(20, 180)), since_midnight)
        move(Availability.AVAILABLE, now - session)
        if person.availability != Availability.AVAILABLE:
            move(person.availability, now - session * rng.uniform(0.05, 0.95))


# --- the accounts seeder ----------------------------------------------------------------------------------


def seed_accounts(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    """Teams, skills, hours, holidays, the users of every role and their availability history."""
    teams = {code: Team.objects.create(code=code, name=name, description=desc) for code, name, desc in TEAMS}
    skills = {code: Skill.objects.get_or_create(code=code, defaults={"name": name})[0] for code, name in SKILLS}
    BusinessHours.objects.bulk_create(
        [BusinessHours(team=team, weekday=wd, opens_at=WEEKDAY_HOURS[0], closes_at=WEEKDAY_HOURS[1])
         for team in teams.values() for wd in range(Weekday.MONDAY, Weekday.SATURDAY)]
        + [BusinessHours(team=team, weekday=Weekday.SATURDAY, opens_at=SATURDAY_HOURS[0],
                         closes_at=SATURDAY_HOURS[1]) for team in teams.values()]
    )
    Holiday.objects.bulk_create([Holiday(team=None, date=d, name=name) for d, name in HOLIDAYS])

    people = _people(rng, AGENTS_BY_SCALE[scale])
    # password=None, then one hash for everyone below: PBKDF2 costs ~0.5 s a hash.
    users = [do_create_user(username=p.username, password=None, full_name=p.full_name, role=p.role,
                            teams=[teams[c] for c in p.teams], email=p.email, language=p.language, acting_user=None)
             for p in people]
    User.skills.through.objects.bulk_create(
        [User.skills.through(user_id=u.pk, skill_id=skills[code].pk)
         for p, u in zip(people, users, strict=True) for code in p.skills]
    )

    now = timezone.now()
    closed = {d for d, _ in HOLIDAYS}
    for p, u in zip(people, users, strict=True):
        if p.has_history:
            _history(p, u, now, closed)
        u.availability = p.availability
        u.availability_changed_at = p.events[-1].created_at if p.events else None
        logins = [e.created_at for e in p.events if e.from_state == Availability.OFFLINE]
        u.last_login = logins[-1] if logins else None
        u.capacity = p.capacity
        u.is_staff = u.is_superuser = p.role == Role.ADMIN
    User.objects.bulk_update(users, ["availability", "availability_changed_at", "last_login", "capacity",
                                     "is_staff", "is_superuser"], batch_size=500)
    User.objects.filter(pk__in=[u.pk for u in users]).update(
        password=make_password(DEMO_PASSWORD), date_joined=now - timedelta(days=HISTORY_DAYS + 30)
    )
    events = AvailabilityEvent.objects.bulk_create([e for p in people for e in p.events], batch_size=2000)
    stdout.write(f"accounts: {len(teams)} teams, {len(skills)} skills, {len(HOLIDAYS)} holidays, "
                 f"{len(users)} users, {len(events)} availability events")


SEEDERS: list[Seeder] = [seed_accounts]
# Run after the seeding transaction commits, in order (customers: their activity columns and consents, which need
# every other app's demo rows).
AFTER_SEED: list[Seeder] = []


def seeder_rng(seed: int, seeder: Seeder) -> random.Random:
    name = f"{getattr(seeder, '__module__', '')}.{getattr(seeder, '__qualname__', repr(seeder))}"
    return random.Random(f"{seed}:{name}")  # noqa: S311 - demo data, reproducibility wanted, not secrecy


def demo_usernames(scale: str) -> list[str]:
    return [username for username, *_ in STAFF] + [f"agente{i}" for i in range(1, AGENTS_BY_SCALE[scale] + 1)]


class Command(BaseCommand):
    help = "Create a demo company (teams, hours, holidays, users of every role, presence history)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=2026, help="Same seed, same data (default 2026).")
        parser.add_argument("--scale", choices=sorted(AGENTS_BY_SCALE), default="small",
                            help="small: 8 agents; large: 200 agents, for load tests.")
        parser.add_argument("--force", action="store_true",
                            help="Re-seeding over existing data is not supported: run `manage.py flush` first.")

    def handle(self, *args: Any, seed: int, scale: Scale, force: bool, **options: Any) -> None:
        with transaction.atomic():
            if User.objects.filter(username="admin").exists():
                if force:
                    raise CommandError("--force is not supported: demo data is already present; "
                                       "empty the database (manage.py flush) and seed again.")
                self.stdout.write("demo data already present")
                return
            taken = sorted(User.objects.filter(username__in=demo_usernames(scale)).values_list("username", flat=True))
            if taken:
                raise CommandError(f"These demo usernames already exist: {', '.join(taken)}. Nothing was changed.")
            origin = set_origin(RequestOrigin(via="command"))
            try:
                # nobody watches a seed (thousands of events would only cost time), and demo replies describe the
                # past: they are stored as sent, never delivered to a real WhatsApp number or mailbox
                with muted(), outbound.suppressed():
                    for seeder in SEEDERS:
                        seeder(seeder_rng(seed, seeder), scale, self.stdout)
                audit.record(actor=None, action="demo.seeded", actor_username="manage.py seed_demo", changes={
                    "seed": seed, "scale": scale, "users": User.objects.count(),
                    "availability_events": AvailabilityEvent.objects.count(),
                })
            finally:
                reset_origin(origin)
        for after in AFTER_SEED:
            after(seeder_rng(seed, after), scale, self.stdout)
        self._print_logins(seed, scale)

    def _print_logins(self, seed: int, scale: str) -> None:
        rows = [(username, str(role.label)) for username, role, *_ in STAFF]
        agents = AGENTS_BY_SCALE[scale]
        agent_label = str(Role.AGENTE.label)
        if agents <= AGENTS_BY_SCALE["small"]:
            rows += [(f"agente{i}", agent_label) for i in range(1, agents + 1)]
        else:
            rows.append((f"agente1 … agente{agents}", agent_label))
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Demo logins / accesos de demostración (--seed {seed} --scale {scale})"))
        self._table([("username / usuario", "role / rol", "password / contraseña"),
                     *((u, r, DEMO_PASSWORD) for u, r in rows)])

    def _table(self, rows: Sequence[tuple[str, str, str]]) -> None:
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        line = "  ".join("-" * w for w in widths)
        for n, row in enumerate(rows):
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
            if n == 0:
                self.stdout.write(line)
