# ruff: noqa: E501  (prose: the sentences stay whole so they can be read and translated)
"""The demo's support-bot texts: four policy topics in four languages, current (v4) and retired (v3).

Each topic has a knowledge-base article (the retrieved context, always the current version), two ways
users ask, and two answers; an answer is rendered with the current or the retired figures. A retired
answer reads just as well, only its version and figures are not in the article: what `groundedness`
checks. `FALLBACK` is the unhelpful answer a small share of calls get on any day (the noise).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The figures of each policy version; the bug is answering with the retired one.
CURRENT = {"ver": "v4", "days": "30", "notice": "2", "months": "24", "amount": "20"}
RETIRED = {"ver": "v3", "days": "14", "notice": "30", "months": "12", "amount": "50"}


@dataclass(frozen=True)
class Topic:
    name: str
    context: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    expected: str  # what a person writes into the golden case: the current figure in words


TOPICS: dict[str, list[Topic]] = {
    "en-US": [
        Topic(
            "refund",
            "Refund policy {ver}: customers can request a full refund within {days} days of delivery. Open "
            "Orders, select the order and choose Request refund. The money returns to the original payment "
            "method within 5 business days.",
            (
                "How long do I have to ask for a refund?",
                "Can I still get a refund for an order delivered last week?",
            ),
            (
                "Under our refund policy {ver} you can request a full refund within {days} days of delivery: "
                "open Orders, select the order and choose Request refund.",
                "Yes. Refund policy {ver} allows a full refund within {days} days of delivery; choose Request "
                "refund on the order under Orders.",
            ),
            "{days} days".format(**CURRENT),
        ),
        Topic(
            "cancel",
            "Subscription terms {ver}: you can cancel up to {notice} days before the renewal date under "
            "Settings > Plan > Cancel. A cancelled plan stays active until the end of the paid period.",
            ("How do I cancel my subscription?", "What is the notice period to cancel my plan?"),
            (
                "Per subscription terms {ver} you can cancel up to {notice} days before the renewal date under "
                "Settings > Plan > Cancel; the plan stays active until the end of the paid period.",
                "Go to Settings > Plan > Cancel at least {notice} days before the renewal date (subscription "
                "terms {ver}). Your plan stays active until the paid period ends.",
            ),
            "{notice} days".format(**CURRENT),
        ),
        Topic(
            "warranty",
            "Warranty policy {ver}: every device carries a {months}-month warranty from the date of "
            "purchase. Submit a claim under Support > Warranty with the serial number.",
            ("How long is the warranty on my device?", "Is my headset still covered by the warranty?"),
            (
                "Warranty policy {ver} covers every device for {months} months from the date of purchase. "
                "Submit a claim under Support > Warranty with the serial number.",
                "Your device is covered for {months} months from the purchase date (warranty policy {ver}); "
                "file a claim under Support > Warranty with its serial number.",
            ),
            "{months} months".format(**CURRENT),
        ),
        Topic(
            "returns",
            "Returns policy {ver}: return shipping is free for orders above {amount} EUR. Create the label "
            "under Orders > Return item; returned items must be unused.",
            ("Do I have to pay for return shipping?", "How do I send an item back?"),
            (
                "Returns policy {ver}: return shipping is free for orders above {amount} EUR. Create the "
                "label under Orders > Return item; the item must be unused.",
                "Create a return label under Orders > Return item. Shipping is free for orders above "
                "{amount} EUR (returns policy {ver}) and the item must be unused.",
            ),
            "{amount} EUR".format(**CURRENT),
        ),
    ],
    "de-DE": [
        Topic(
            "refund",
            "Erstattungsrichtlinie {ver}: Kunden können innerhalb von {days} Tagen nach Lieferung eine volle "
            "Erstattung beantragen. Öffnen Sie Bestellungen, wählen Sie die Bestellung und dann Erstattung "
            "beantragen. Das Geld geht binnen 5 Werktagen auf das ursprüngliche Zahlungsmittel zurück.",
            (
                "Wie lange habe ich Zeit für eine Erstattung?",
                "Bekomme ich für eine Bestellung von letzter Woche noch mein Geld zurück?",
            ),
            (
                "Laut Erstattungsrichtlinie {ver} können Sie innerhalb von {days} Tagen nach Lieferung eine "
                "volle Erstattung beantragen: Bestellungen öffnen, Bestellung wählen, Erstattung beantragen.",
                "Ja. Die Erstattungsrichtlinie {ver} erlaubt eine volle Erstattung innerhalb von {days} Tagen "
                "nach Lieferung; wählen Sie unter Bestellungen Erstattung beantragen.",
            ),
            "{days} Tagen".format(**CURRENT),
        ),
        Topic(
            "cancel",
            "Abobedingungen {ver}: Sie können bis {notice} Tage vor dem Verlängerungsdatum unter "
            "Einstellungen > Tarif > Kündigen kündigen. Ein gekündigter Tarif bleibt bis zum Ende des "
            "bezahlten Zeitraums aktiv.",
            ("Wie kündige ich mein Abo?", "Welche Kündigungsfrist hat mein Tarif?"),
            (
                "Nach den Abobedingungen {ver} können Sie bis {notice} Tage vor dem Verlängerungsdatum unter "
                "Einstellungen > Tarif > Kündigen kündigen; der Tarif bleibt bis zum Ende des bezahlten "
                "Zeitraums aktiv.",
                "Kündigen Sie unter Einstellungen > Tarif > Kündigen spätestens {notice} Tage vor dem "
                "Verlängerungsdatum (Abobedingungen {ver}). Der Tarif bleibt bis zum Ende des bezahlten "
                "Zeitraums aktiv.",
            ),
            "{notice} Tage".format(**CURRENT),
        ),
        Topic(
            "warranty",
            "Garantierichtlinie {ver}: Jedes Gerät hat {months} Monate Garantie ab Kaufdatum. Reichen Sie "
            "einen Anspruch unter Support > Garantie mit der Seriennummer ein.",
            ("Wie lange gilt die Garantie für mein Gerät?", "Ist mein Headset noch in der Garantie?"),
            (
                "Die Garantierichtlinie {ver} gibt jedem Gerät {months} Monate Garantie ab Kaufdatum. Reichen "
                "Sie den Anspruch unter Support > Garantie mit der Seriennummer ein.",
                "Ihr Gerät hat {months} Monate Garantie ab Kaufdatum (Garantierichtlinie {ver}); melden Sie "
                "den Anspruch unter Support > Garantie mit der Seriennummer.",
            ),
            "{months} Monate".format(**CURRENT),
        ),
        Topic(
            "returns",
            "Rücksenderichtlinie {ver}: Der Rückversand ist für Bestellungen über {amount} EUR kostenlos. "
            "Erstellen Sie das Etikett unter Bestellungen > Artikel zurücksenden; Artikel müssen unbenutzt sein.",
            ("Muss ich den Rückversand bezahlen?", "Wie schicke ich einen Artikel zurück?"),
            (
                "Rücksenderichtlinie {ver}: Der Rückversand ist für Bestellungen über {amount} EUR kostenlos. "
                "Das Etikett erstellen Sie unter Bestellungen > Artikel zurücksenden; der Artikel muss "
                "unbenutzt sein.",
                "Erstellen Sie unter Bestellungen > Artikel zurücksenden ein Etikett. Für Bestellungen über "
                "{amount} EUR ist der Rückversand kostenlos (Rücksenderichtlinie {ver}).",
            ),
            "{amount} EUR".format(**CURRENT),
        ),
    ],
    "fr-FR": [
        Topic(
            "refund",
            "Politique de remboursement {ver} : les clients peuvent demander un remboursement complet dans "
            "les {days} jours suivant la livraison. Ouvrez Commandes, choisissez la commande puis Demander "
            "un remboursement. L'argent revient sur le moyen de paiement d'origine sous 5 jours ouvrés.",
            (
                "Combien de temps ai-je pour demander un remboursement ?",
                "Puis-je encore être remboursé pour une commande livrée la semaine dernière ?",
            ),
            (
                "Selon notre politique de remboursement {ver}, vous pouvez demander un remboursement complet "
                "dans les {days} jours suivant la livraison : ouvrez Commandes, choisissez la commande puis "
                "Demander un remboursement.",
                "Oui. La politique de remboursement {ver} permet un remboursement complet dans les {days} "
                "jours suivant la livraison ; choisissez Demander un remboursement dans Commandes.",
            ),
            "{days} jours".format(**CURRENT),
        ),
        Topic(
            "cancel",
            "Conditions d'abonnement {ver} : vous pouvez résilier jusqu'à {notice} jours avant la date de "
            "renouvellement dans Paramètres > Forfait > Résilier. Un forfait résilié reste actif jusqu'à la "
            "fin de la période payée.",
            ("Comment résilier mon abonnement ?", "Quel est le préavis pour résilier mon forfait ?"),
            (
                "D'après les conditions d'abonnement {ver}, vous pouvez résilier jusqu'à {notice} jours avant "
                "la date de renouvellement dans Paramètres > Forfait > Résilier ; le forfait reste actif "
                "jusqu'à la fin de la période payée.",
                "Allez dans Paramètres > Forfait > Résilier au moins {notice} jours avant la date de "
                "renouvellement (conditions d'abonnement {ver}). Le forfait reste actif jusqu'à la fin de la "
                "période payée.",
            ),
            "{notice} jours".format(**CURRENT),
        ),
        Topic(
            "warranty",
            "Politique de garantie {ver} : chaque appareil bénéficie d'une garantie de {months} mois à "
            "partir de la date d'achat. Déposez une demande dans Support > Garantie avec le numéro de série.",
            ("Quelle est la durée de garantie de mon appareil ?", "Mon casque est-il encore sous garantie ?"),
            (
                "La politique de garantie {ver} couvre chaque appareil pendant {months} mois à partir de la "
                "date d'achat. Déposez une demande dans Support > Garantie avec le numéro de série.",
                "Votre appareil est garanti {months} mois à partir de la date d'achat (politique de garantie "
                "{ver}) ; faites la demande dans Support > Garantie avec son numéro de série.",
            ),
            "{months} mois".format(**CURRENT),
        ),
        Topic(
            "returns",
            "Politique de retour {ver} : le retour est gratuit pour les commandes de plus de {amount} EUR. "
            "Créez l'étiquette dans Commandes > Retourner un article ; les articles doivent être inutilisés.",
            ("Dois-je payer les frais de retour ?", "Comment renvoyer un article ?"),
            (
                "Politique de retour {ver} : le retour est gratuit pour les commandes de plus de {amount} EUR. "
                "Créez l'étiquette dans Commandes > Retourner un article ; l'article doit être inutilisé.",
                "Créez une étiquette dans Commandes > Retourner un article. Le retour est gratuit pour les "
                "commandes de plus de {amount} EUR (politique de retour {ver}).",
            ),
            "{amount} EUR".format(**CURRENT),
        ),
    ],
    "es-ES": [
        Topic(
            "refund",
            "Política de reembolsos {ver}: los clientes pueden solicitar un reembolso completo en un plazo "
            "de {days} días desde la entrega. Abra Pedidos, seleccione el pedido y elija Solicitar reembolso. "
            "El dinero vuelve al método de pago original en 5 días hábiles.",
            (
                "¿Cuánto tiempo tengo para pedir un reembolso?",
                "¿Puedo recibir un reembolso de un pedido entregado la semana pasada?",
            ),
            (
                "Según nuestra política de reembolsos {ver}, puede solicitar un reembolso completo en un plazo "
                "de {days} días desde la entrega: abra Pedidos, seleccione el pedido y elija Solicitar reembolso.",
                "Sí. La política de reembolsos {ver} permite un reembolso completo en un plazo de {days} días "
                "desde la entrega; elija Solicitar reembolso en Pedidos.",
            ),
            "{days} días".format(**CURRENT),
        ),
        Topic(
            "cancel",
            "Condiciones de suscripción {ver}: puede cancelar hasta {notice} días antes de la fecha de "
            "renovación en Ajustes > Plan > Cancelar. Un plan cancelado sigue activo hasta el final del "
            "periodo pagado.",
            ("¿Cómo cancelo mi suscripción?", "¿Con cuánta antelación debo cancelar mi plan?"),
            (
                "Según las condiciones de suscripción {ver}, puede cancelar hasta {notice} días antes de la "
                "fecha de renovación en Ajustes > Plan > Cancelar; el plan sigue activo hasta el final del "
                "periodo pagado.",
                "Vaya a Ajustes > Plan > Cancelar al menos {notice} días antes de la fecha de renovación "
                "(condiciones de suscripción {ver}). El plan sigue activo hasta el final del periodo pagado.",
            ),
            "{notice} días".format(**CURRENT),
        ),
        Topic(
            "warranty",
            "Política de garantía {ver}: cada dispositivo tiene una garantía de {months} meses desde la "
            "fecha de compra. Presente una reclamación en Soporte > Garantía con el número de serie.",
            ("¿Cuánto dura la garantía de mi dispositivo?", "¿Mis auriculares siguen en garantía?"),
            (
                "La política de garantía {ver} cubre cada dispositivo durante {months} meses desde la fecha de "
                "compra. Presente una reclamación en Soporte > Garantía con el número de serie.",
                "Su dispositivo tiene {months} meses de garantía desde la fecha de compra (política de "
                "garantía {ver}); reclame en Soporte > Garantía con el número de serie.",
            ),
            "{months} meses".format(**CURRENT),
        ),
        Topic(
            "returns",
            "Política de devoluciones {ver}: el envío de devolución es gratis para pedidos de más de {amount} "
            "EUR. Cree la etiqueta en Pedidos > Devolver artículo; los artículos deben estar sin usar.",
            ("¿Tengo que pagar el envío de la devolución?", "¿Cómo devuelvo un artículo?"),
            (
                "Política de devoluciones {ver}: el envío de devolución es gratis para pedidos de más de "
                "{amount} EUR. Cree la etiqueta en Pedidos > Devolver artículo; el artículo debe estar sin usar.",
                "Cree una etiqueta en Pedidos > Devolver artículo. El envío es gratis para pedidos de más de "
                "{amount} EUR (política de devoluciones {ver}).",
            ),
            "{amount} EUR".format(**CURRENT),
        ),
    ],
}

FALLBACK = {
    "en-US": "Sorry, I could not find that. Please contact our support team through the chat.",
    "de-DE": "Das konnte ich leider nicht finden. Bitte wenden Sie sich über den Chat an unser Team.",
    "fr-FR": "Désolé, je n'ai pas trouvé cela. Merci de contacter notre équipe via le chat.",
    "es-ES": "Lo siento, no lo encontré. Póngase en contacto con nuestro equipo por el chat.",
}
