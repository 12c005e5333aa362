"""Capitalized words that are not names: function words, greetings, calendar words, log and
ticket vocabulary. A candidate made only of these never reaches the NER model."""

from __future__ import annotations

from typing import Final

_WORDS: Final = """
a about above after again against all almost also although always am among an and another any anyone
anything are around as at back be because been before being below between both but by can cannot could
did do does doing done down during each either else enough even ever every everyone everything few for
from further had has have having he her here hers herself him himself his how however i if in into is
it its itself just least less let like many may maybe me might mine more most much must my myself
neither never no nobody none nor not nothing now of off often on once one only or other others our ours
ourselves out over own per perhaps please quite rather really same she should since so some someone
something sometimes still such than that the their theirs them themselves then there these they this
those though through thus to together too toward under until up upon us very via was we well were what
whatever when where whether which while who whole whom whose why will with within without would yet you
your yours yourself yourselves yes ok okay hi hello hey dear thanks thank regards cheers best sincerely
kind welcome sorry note notes update updated fyi asap eta re fw fwd todo done new old next last first
monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday tonight morning
evening afternoon night week weekend month year january february march april june july august
september october november december jan feb mar apr jun jul aug sep sept oct nov dec q1 q2 q3 q4
error errors warning warn info debug trace fatal critical notice alert emergency exception failed
failure fail success succeeded ok status request response requests responses timeout retry retrying
retried started starting stopped stopping running restart restarted restarting deployed deploying
deploy deployment release released build built version upgrade upgraded rollback rolled connection
connected connecting disconnected closed closing open opened opening sent sending received receiving
processing processed queued completed complete pending created updating deleted removed added loaded
loading saving saved cache cached user users customer customers client clients server servers service
services api app application database db table query queries job jobs task tasks worker workers
scheduler cluster node nodes pod pods host hosts instance instances region zone network disk memory
cpu file files path config configuration settings environment production staging development test
tests testing ticket tickets issue issues bug bugs incident incidents priority severity order orders
invoice invoices payment payments account accounts billing refund subscription plan support team
teams project projects meeting call email emails phone message messages chat channel thread reply
replied hours minutes seconds days id ids key keys token tokens password secret admin root system
internal external public private default local remote summary description details detail subject
problem problems question questions answer answers resolution resolved resolve solution workaround
steps step expected actual result results log logs event events metric metrics alert alerts dashboard
page pages document documentation docs guide readme overview introduction background usage example
examples install installation setup set get post put patch delete head options true false null none
yes no high low medium normal urgent major minor blocker escalated escalation feature features
customer's user's team's company company's hr it ops devops engineering sales marketing finance legal
please note attached attachment see also thanks again hope thank you looking forward let know
bearer basic digest oauth pro premium enterprise free trial starter business plus standard
requires required maintainer maintainers owner owners reviewer reviewers approver author authors
care helpdesk tel mobile cell fax whatsapp
""".split()

STOP_WORDS: Final[frozenset[str]] = frozenset(_WORDS)
